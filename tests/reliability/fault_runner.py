"""Fault injection for textae's training loop: runs a tiny training run, kills it with SIGKILL at a
named point, resumes it (``train(recipe, resume=True)`` in a new process) and compares the final
weights with an uninterrupted run's, tensor by tensor.

Run by tests/reliability/test_faults.py as ``python -m tests.reliability.fault_runner OUT_DIR [NAME ...]``.
Imports happen once in this process; every training run (the reference, each run that is killed, each
resume) is a child made with ``os.fork()``, so a kill is a real SIGKILL of a real process and a
resume starts in a process that has not trained, without paying the imports each time.

Kill points (``SCENARIOS``):

* ``NAME:STEP`` — a point of the loop (``textae.training.events``): the run's event callback
  kills the process at that point of that step;
* ``write:FILE:STEP`` — inside ``accelerator.save_state`` of the checkpoint of STEP: FILE is written,
  then cut to half its size (a torn write), then the process is killed;
* ``prune:STEP`` — while the checkpoint of STEP deletes an old checkpoint, after one of its files is gone;
* ``loaded`` — right after a resume loaded its checkpoint (a crash during recovery);
* ``after:FRACTION`` — killed from outside (by this process) after FRACTION of an uninterrupted run's time.

A scenario is a list of kill points: each run dies at the next one and the following run resumes,
until a run with no kill point left finishes. ``plant`` scenarios add, before resuming, a newer
``.tmp_*`` folder and a newer folder without its state file, both holding garbage, which resume must ignore.

Each result (one JSON line per scenario in OUT_DIR/results.jsonl): the exit of each killed run, the
checkpoint each resume loaded, whether every checkpoint counted complete was really complete at that
moment, and the tensors of the final model that differ from the reference's (none, when resume is exact).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import traceback
from pathlib import Path

# fault -> its kill points; the recipe below: 12 steps, a checkpoint every 2 steps (the last 2 kept),
# evaluation at steps 6 and 12, 4 batches per epoch (so resumes also cross epoch boundaries)
SCENARIOS: dict[str, dict] = {
    "batch:1": {"faults": ["batch:1"]},  # before the first update: no checkpoint exists yet
    "batch:5": {"faults": ["batch:5"]},  # mid step 5, before its forward pass
    "backward:7": {"faults": ["backward:7"]},  # gradients computed, no update yet
    "optimizer:3": {"faults": ["optimizer:3"]},  # weights updated, LR schedule not yet stepped
    "scheduler:9": {"faults": ["scheduler:9"]},  # updated and scheduled, gradients not yet zeroed
    "step:4": {"faults": ["step:4"]},  # step counted, nothing logged or saved
    "log:6": {"faults": ["log:6"]},  # the metrics line written, evaluation and checkpoint not
    "eval:6": {"faults": ["eval:6"]},  # in-loop evaluation done, checkpoint not written
    "save_begin:2": {"faults": ["save_begin:2"]},  # the very first checkpoint, before any file
    "save_state:4": {"faults": ["save_state:4"]},  # all files of .tmp_step_4 written, no state file
    "save_state_file:6": {"faults": ["save_state_file:6"]},  # .tmp_step_6 complete but not renamed
    "save_renamed:8": {"faults": ["save_renamed:8"]},  # renamed, the oldest checkpoint not yet pruned
    "save_pruned:10": {"faults": ["save_pruned:10"]},  # checkpoint fully done, the step not finished
    "save_state:12": {"faults": ["save_state:12"]},  # the last checkpoint half done
    "finish_begin:12": {"faults": ["finish_begin:12"]},  # training over, final model not written
    "finish_model:12": {"faults": ["finish_model:12"]},  # final model written, metrics not
    "write:model.safetensors:6": {"faults": ["write:model.safetensors:6"]},  # torn weights file
    "write:optimizer.bin:6": {"faults": ["write:optimizer.bin:6"]},  # torn optimizer state
    "write:scheduler.bin:10": {"faults": ["write:scheduler.bin:10"]},  # torn scheduler state
    "write:random_states_0.pkl:4": {"faults": ["write:random_states_0.pkl:4"]},  # torn RNG state
    "prune:8": {"faults": ["prune:8"]},  # killed halfway through deleting an old checkpoint
    "twice:optimizer:5+backward:7": {"faults": ["optimizer:5", "backward:7"]},  # killed again after a resume
    "twice:save_state_file:4": {"faults": ["save_state_file:4", "save_state_file:4"]},  # same point twice
    "resume:step:5+loaded": {"faults": ["step:5", "loaded"]},  # killed again while recovering
    "plant:step:7": {"faults": ["step:7"], "plant": True},  # garbage newer folders beside the checkpoints
    "outside:0.4": {"faults": ["after:0.4"]},  # SIGKILL from another process, wherever the run then is
}

OVERRIDES = [
    "train.max_steps=12",
    "train.save_every=2",
    "train.keep_checkpoints=2",
    "train.eval_every=6",
    "train.log_every=3",
    "train.show_reconstructions=0",
    "data.synthetic_train_size=64",
    "data.synthetic_eval_size=16",
]

CHILD_TIMEOUT_S = 120


def recipe_for(run_dir: Path):
    from tests.training.test_loop import tiny_recipe

    return tiny_recipe(run_dir, *OVERRIDES)


def _install_file_faults(fault: str | None, run_dir: Path) -> None:
    """In a child: the kill points that lie inside accelerate's save_state, pruning and load_state."""
    import shutil

    import accelerate
    import accelerate.checkpointing as ckpt
    import torch

    from textae.training import plots

    plots.write_run_plots = lambda *a, **k: {}  # plots are not what is tested here; they cost 0.4 s a run

    def die() -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    def torn(path) -> None:
        path = Path(path)
        with open(path, "r+b") as f:
            f.truncate(max(1, path.stat().st_size // 2))
        die()

    kind, _, rest = (fault or "").partition(":")
    if kind == "write":
        name, step = rest.rsplit(":", 1)

        def hit(path) -> bool:
            path = Path(path)
            return path.name == name and path.parent.name.endswith(f"step_{int(step):08d}")

        original_save, original_torch_save = ckpt.save, torch.save

        def save(obj, f, *args, **kwargs):
            original_save(obj, f, *args, **kwargs)
            if hit(f):
                torn(f)

        def torch_save(obj, f, *args, **kwargs):
            original_torch_save(obj, f, *args, **kwargs)
            if isinstance(f, (str, os.PathLike)) and hit(f):
                torn(f)

        ckpt.save = save
        torch.save = torch_save
    if kind == "prune":
        step = int(rest)
        original_rmtree = shutil.rmtree
        seen = {"n": 0}

        def rmtree(path, *args, **kwargs):
            path = Path(path)
            newest = f"step_{step:08d}"
            if path.name.startswith("step_") and path.name != newest and (path.parent / newest).exists() and path.exists():
                (path / "model.safetensors").unlink()  # one file gone, the rest still there
                die()
            return original_rmtree(path, *args, **kwargs)

        shutil.rmtree = rmtree
    original_load_state = accelerate.Accelerator.load_state

    def load_state(self, input_dir=None, *args, **kwargs):
        from textae.training import complete_checkpoints

        newest = complete_checkpoints(run_dir)[-1]
        record = {"loaded": str(input_dir), "newest_complete": str(newest), "all_complete_whole": _really_complete(run_dir)}
        with open(run_dir.parent / f"{run_dir.name}.loads.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
        out = original_load_state(self, input_dir, *args, **kwargs)
        if fault == "loaded":
            die()
        return out

    accelerate.Accelerator.load_state = load_state


def _really_complete(run_dir: Path) -> bool:
    """Whether every checkpoint that counts as complete holds every file of a checkpoint, unharmed."""
    from accelerate.utils import load  # torch.load(weights_only=True) plus the numpy types of RNG states
    from safetensors.torch import load_file

    from textae.training import complete_checkpoints

    for folder in complete_checkpoints(run_dir):
        try:
            load_file(folder / "model.safetensors")
            for name in ("optimizer.bin", "scheduler.bin", "random_states_0.pkl"):
                load(folder / name)
        except Exception:
            return False
    return True


def run_child(run_dir: Path, resume: bool, fault: str | None, log: Path, kill_after: float | None = None) -> int:
    """One training run in a forked child; returns its exit code, or -signal when killed."""
    from textae.training import train
    from tests.reliability.kill_points import kill_at

    pid = os.fork()
    if pid == 0:  # the child
        code = 0
        try:
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            loop_point = fault and ":" in fault and not fault.startswith(("write:", "prune:", "after:"))
            _install_file_faults(fault, run_dir)
            train(recipe_for(run_dir), resume=resume, on_event=kill_at(fault if loop_point else None))
        except BaseException:
            traceback.print_exc()
            code = 3
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    start = time.monotonic()
    killed = timed_out = False
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        elapsed = time.monotonic() - start
        if kill_after is not None and not killed and elapsed >= kill_after:
            os.kill(pid, signal.SIGKILL)
            killed = True
        if elapsed > CHILD_TIMEOUT_S and not timed_out:
            os.kill(pid, signal.SIGKILL)
            timed_out = True
        time.sleep(0.005)
    if timed_out:
        return 124  # hung: never mistaken for a planned kill
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def _plant_garbage(run_dir: Path) -> None:
    folder = run_dir / "checkpoints"
    tmp = folder / ".tmp_step_00000099"  # newest of all, with a state file: still never a checkpoint
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "trainer_state.json").write_text(json.dumps({"step": 99, "batches_seen": 99}))
    (tmp / "model.safetensors").write_bytes(b"garbage")
    stateless = folder / "step_00000098"  # a checkpoint name without its state file
    stateless.mkdir(parents=True, exist_ok=True)
    (stateless / "model.safetensors").write_bytes(b"garbage")
    (stateless / "optimizer.bin").write_bytes(b"garbage")


def _final_weights(run_dir: Path):
    from safetensors.torch import load_file

    return load_file(run_dir / "model" / "model.safetensors")


def run_scenario(name: str, spec: dict, out: Path, reference, reference_seconds: float) -> dict:
    import torch

    run_dir = out / name.replace(":", "_").replace("+", "_")
    log = out / f"{run_dir.name}.log"
    result = {"name": name, "exits": [], "loads": [], "error": None}
    started = time.perf_counter()
    resume = False
    for fault in spec["faults"]:
        kill_after = float(fault.split(":")[1]) * reference_seconds if fault.startswith("after:") else None
        result["exits"].append(run_child(run_dir, resume, fault, log, kill_after))
        resume = True
        if spec.get("plant"):
            _plant_garbage(run_dir)
    result["final_exit"] = run_child(run_dir, resume, None, log)
    loads = run_dir.parent / f"{run_dir.name}.loads.jsonl"
    result["loads"] = [json.loads(x) for x in loads.read_text().splitlines()] if loads.exists() else []
    result["seconds"] = time.perf_counter() - started
    if result["final_exit"] != 0:
        result["error"] = log.read_text()[-3000:]
        return result
    weights = _final_weights(run_dir)
    result["keys_match"] = sorted(weights) == sorted(reference)
    result["differing"] = sorted(k for k in reference if k not in weights or not torch.equal(weights[k], reference[k]))
    result["tensors"] = len(reference)
    result["leftover_tmp"] = sorted(p.name for p in (run_dir / "checkpoints").glob(".tmp_*"))
    return result


def main(argv: list[str]) -> None:
    import torch

    torch.set_num_threads(1)
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    names = argv[1:] or list(SCENARIOS)
    import tqdm

    tqdm.tqdm.monitor_interval = 0  # no tqdm monitor thread: this process forks
    # a first run pays one-off costs (lazy imports across transformers, datasets, accelerate); paid here
    # once, in a child that is then discarded would lose them, so this process runs it itself
    from textae.training import train

    _install_file_faults(None, out / "warmup")
    train(recipe_for(out / "warmup"))
    started = time.perf_counter()
    code = run_child(out / "reference", False, None, out / "reference.log")
    reference_seconds = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"the uninterrupted reference run failed:\n{(out / 'reference.log').read_text()[-3000:]}")
    reference = _final_weights(out / "reference")
    with open(out / "results.jsonl", "w") as f:
        f.write(json.dumps({"name": "_reference", "seconds": reference_seconds, "tensors": len(reference)}) + "\n")
        for name in names:
            f.write(json.dumps(run_scenario(name, SCENARIOS[name], out, reference, reference_seconds)) + "\n")
            f.flush()


if __name__ == "__main__":
    main(sys.argv[1:])
