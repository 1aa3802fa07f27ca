"""How often a 2-process DDP run on the CPU exits cleanly (exit code 0, no gloo abort).

Repeats the launch of tests/reliability/ddp_families.py (every registered family trained in turn in
one gloo process group, then compared across ranks) --runs times, ending as textae's CLI does (wait,
destroy the process group, flush, ``os._exit(0)``). For contrast, --plain-runs launches of one family
that return from ``main`` normally (the interpreter tears gloo down itself).

    OMP_NUM_THREADS=1 python benchmarks/ddp_exit.py [--runs 10] [--plain-runs 10] [--plain-family lm]

Writes benchmarks/results/ddp_exit.{json,md} and prints the table.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "tests" / "reliability" / "ddp_families.py"
RESULTS = REPO / "benchmarks" / "results"
ABORT_MARKERS = ("terminate called", "Aborted", "core dumped", "SIGABRT")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def identical(out: Path, families: list[str]) -> bool:
    import torch
    from safetensors.torch import load_file

    for family in families:
        a, b = load_file(out / f"{family}.rank0.safetensors"), load_file(out / f"{family}.rank1.safetensors")
        if a.keys() != b.keys() or not all(torch.equal(a[k], b[k]) for k in a):
            return False
    return True


def one_run(families: list[str], plain: bool, timeout: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="textae_ddp_exit_") as tmp:
        out = Path(tmp)
        cmd = [
            sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
            "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(free_port()), str(SCRIPT), str(out), *families,
            *(["--plain-exit"] if plain else []),
        ]
        env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "HF_DATASETS_CACHE": str(out / "hf")}
        start = time.perf_counter()
        try:
            proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
            code, stderr, stdout = proc.returncode, proc.stderr, proc.stdout
        except subprocess.TimeoutExpired as err:
            code, stderr, stdout = "timeout", str(err.stderr or ""), str(err.stdout or "")
        seconds = time.perf_counter() - start
        aborted = any(m in stderr for m in ABORT_MARKERS)
        done = stdout.count("of 2 done") == 2
        same = done and identical(out, families)
        return {
            "exit_code": code, "gloo_abort": aborted, "both_ranks_done": done, "identical_states": same,
            "clean": code == 0 and not aborted and done, "seconds": round(seconds, 1),
            "stderr_tail": "" if code == 0 and not aborted else stderr[-1500:],
        }


def main() -> None:
    import textae

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--plain-runs", type=int, default=10)
    parser.add_argument("--plain-family", default="lm")
    parser.add_argument("--timeout", type=int, default=600)
    args = parser.parse_args()
    families = sorted(textae.FAMILIES)
    rows = []
    for label, fams, plain, n in (("textae exit (all families)", families, False, args.runs), (f"plain interpreter exit ({args.plain_family})", [args.plain_family], True, args.plain_runs)):
        runs = []
        for i in range(n):
            runs.append(one_run(fams, plain, args.timeout))
            r = runs[-1]
            print(f"{label} run {i + 1}/{n}: exit {r['exit_code']}, gloo abort {r['gloo_abort']}, identical {r['identical_states']}, {r['seconds']} s", flush=True)
        rows.append({
            "setting": label, "families": fams, "runs": n, "clean_exits": sum(r["clean"] for r in runs),
            "identical_states": sum(r["identical_states"] for r in runs), "gloo_aborts": sum(r["gloo_abort"] for r in runs),
            "mean_seconds": round(sum(r["seconds"] for r in runs) / max(1, n), 1), "details": runs,
        })
    import torch

    meta = {"python": sys.version.split()[0], "torch": torch.__version__, "cpu_count": os.cpu_count(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ddp_exit.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    lines = [
        "# 2-process DDP on the CPU (gloo): clean exits",
        "",
        f"torch {meta['torch']}, Python {meta['python']}, {meta['cpu_count']} CPU cores, {meta['date']}. A clean exit: exit code 0, "
        "both ranks finished, no gloo abort (`terminate called ...`) in stderr. Identical: every parameter and buffer equal across ranks.",
        "",
        "| setting | families | clean exits | identical params + buffers | gloo aborts | mean s / launch |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        lines.append(
            f"| {row['setting']} | {', '.join(row['families'])} | {row['clean_exits']} of {row['runs']} | {row['identical_states']} of {row['runs']} | "
            f"{row['gloo_aborts']} | {row['mean_seconds']} |"
        )
    lines += ["", "Reproduce: `OMP_NUM_THREADS=1 python benchmarks/ddp_exit.py`."]
    (RESULTS / "ddp_exit.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
