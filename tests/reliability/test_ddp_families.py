"""Every registered family trains in a 2-process DDP run on the CPU and ends with identical
parameters and buffers on both ranks. One launch trains all families in turn (the process group
starts once), which also checks that several ``train`` calls share one process group."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

import textae
from tests.conftest import REPO

# two processes launched by accelerate: left out of the fast run (-m "not integration")
pytestmark = pytest.mark.integration

SCRIPT = REPO / "tests" / "reliability" / "ddp_families.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(out, *args, timeout=420) -> subprocess.CompletedProcess:
    """The 2-process CPU launch ENVIRONMENT.md describes, on a free port (parallel jobs never collide)."""
    cmd = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(free_port()), str(SCRIPT), str(out), *args,
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "HF_DATASETS_CACHE": str(out / "hf_datasets")}
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp_families")
    return out, launch(out)


def test_the_launch_exits_cleanly(ddp_run):
    _, proc = ddp_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "terminate called" not in proc.stderr
    assert "rank 0 of 2 done" in proc.stdout and "rank 1 of 2 done" in proc.stdout
    # both ranks write to one pipe: their lines may interleave
    reports = [json.loads(x) for x in re.findall(r'\{"family": [^{}]*\}', proc.stdout)]
    assert sorted((r["family"], r["rank"]) for r in reports) == sorted((f, r) for f in textae.FAMILIES for r in (0, 1))
    assert {r["world"] for r in reports} == {2}


@pytest.mark.parametrize("family", sorted(textae.FAMILIES))
def test_both_ranks_end_with_identical_parameters_and_buffers(ddp_run, family):
    out, proc = ddp_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    a, b = load_file(out / f"{family}.rank0.safetensors"), load_file(out / f"{family}.rank1.safetensors")
    assert a.keys() == b.keys()
    assert sum(k.startswith("param.") for k in a) >= 16
    for key in a:
        assert torch.equal(a[key], b[key]), key
