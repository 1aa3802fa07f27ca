"""Runs one of the fault runners in a fresh interpreter and reads the rows it wrote."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def run_and_read(module: str, out: Path, timeout: int) -> dict[str, dict]:
    """``python -m module OUT`` (one thread, its own datasets cache) → rows by name."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "HF_DATASETS_CACHE": str(out / "hf_datasets")}
    proc = subprocess.run([sys.executable, "-m", module, str(out)], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    return {row["name"]: row for row in rows}
