"""Faults through the command line: ``textae train`` (``textae.cli.main``, what the ``textae`` command
runs) is stopped by SIGTERM or SIGINT at a random step, or killed with SIGKILL, also while it runs
``--resume``; each run is then resumed until it finishes, and its final weights are compared with an
uninterrupted run's, tensor by tensor. Three recipes: the tiny AE of fault_runner.py, the same over a
streaming corpus (``data.streaming=true``) and with text noise (keyboard typos in the encoder input).

Run by tests/reliability/test_cli_faults.py as ``python -m tests.reliability.cli_fault_runner OUT_DIR``.
As in fault_runner.py, the imports are paid once: every run is a child made with ``os.fork()`` that
calls ``textae.cli.main(argv)`` and exits with its status, so a signal reaches a real process and a
resume starts in one that has not trained. A signal "at a step" is sent by the child to itself when
the loop reaches the named point of that step (``batch``: before the forward pass, ``backward``:
gradients computed, ``optimizer``: weights updated, ``scheduler``, ``step``: the step counted); the
steps and points are drawn with the seed ``TEXTAE_FAULT_SEED`` (random unless set), written into
the results.

Scenarios (one JSON line each in OUT_DIR/results.jsonl):

* ``sigterm`` (base recipe): SIGTERM at a random step → exit 75 with a checkpoint of that step;
  ``--resume`` killed with SIGKILL at a random later step; ``--resume`` to the end.
* ``sigint_streaming`` (streaming): the same with SIGINT (Ctrl-C).
* ``sigkill_noise`` (text noise): SIGKILL at a random step; ``--resume`` stopped by SIGTERM at a
  random later step; ``--resume`` to the end.
* ``second_sigint``: two SIGINTs in one step → exit 130 at once, no checkpoint of that step.
* ``concurrent``: a second ``textae train`` into the folder of a running one → exit 2 naming the
  first's PID; the first then finishes with the uninterrupted run's weights.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sys
import time
import traceback
from pathlib import Path

import yaml

from tests.reliability.fault_runner import CHILD_TIMEOUT_S, OVERRIDES

STEPS = 12
POINTS = ("batch", "backward", "optimizer", "scheduler", "step")  # reached at every step
VARIANTS = {
    "base": [],
    "streaming": ["data.streaming=true"],
    "noise": ["model.noise=[{name: keyboard_typos, rate: 0.3}]"],
}


def write_recipe(out: Path) -> Path:
    from tests.training.test_loop import TINY

    tree = json.loads(json.dumps(TINY))
    for item in OVERRIDES:
        key, value = item.split("=", 1)
        section, name = key.split(".")
        tree[section][name] = yaml.safe_load(value)
    path = out / "recipe.yaml"
    path.write_text(yaml.safe_dump(tree))
    return path


def run_cli(argv: list[str], log: Path, kill_at: str | None = None, signal_at: tuple | None = None, hold_at: tuple | None = None) -> int:
    """``textae.cli.main(argv)`` in a forked child; its exit status, or -signal when killed.

    kill_at: "POINT:STEP", SIGKILL there (a point of textae.training.events). signal_at: (point, step,
    signal, times): the child sends itself the signal there. hold_at: (point, step, marker, release):
    the child touches ``marker`` there and waits until ``release`` exists."""
    from textae.training import events

    pid = os.fork()
    if pid == 0:
        code = 3
        try:
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            observer = _observer(kill_at, signal_at, hold_at)
            from textae.cli import main

            with events.observed_by(observer):
                code = main(argv)
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    return _wait(pid)


def _observer(kill_at: str | None, signal_at, hold_at):
    """The event callback of the child: a signal, a hold, then the kill point, each where named."""
    from tests.reliability.kill_points import kill_at as killer
    from textae.training import plots

    plots.write_run_plots = lambda *a, **k: {}  # plots are not what is tested here
    kill = killer(kill_at)

    def point(name: str, step: int) -> None:
        if signal_at and (name, step) == signal_at[:2]:
            for _ in range(signal_at[3]):
                os.kill(os.getpid(), signal_at[2])
        if hold_at and (name, step) == hold_at[:2]:
            Path(hold_at[2]).touch()
            deadline = time.monotonic() + 60
            while not Path(hold_at[3]).exists() and time.monotonic() < deadline:
                time.sleep(0.01)
        if kill is not None:
            kill(name, step)

    return point


def _wait(pid: int, timeout: float = CHILD_TIMEOUT_S) -> int:
    start = time.monotonic()
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        if time.monotonic() - start > timeout:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return 124  # hung: never mistaken for a planned kill
        time.sleep(0.005)


def _weights(run_dir: Path):
    from safetensors.torch import load_file

    return load_file(run_dir / "model" / "model.safetensors")


def _differing(run_dir: Path, reference) -> list[str]:
    import torch

    if not (run_dir / "model" / "model.safetensors").exists():
        return ["(no final model)"]
    weights = _weights(run_dir)
    return sorted(k for k in reference if k not in weights or not torch.equal(weights[k], reference[k])) + sorted(set(weights) - set(reference))


def _newest_step(run_dir: Path) -> int:
    from textae.training import complete_checkpoints

    found = complete_checkpoints(run_dir)
    return int(found[-1].name.split("_")[-1]) if found else 0


def _point(rng: random.Random, after: int, last: int = STEPS) -> tuple[str, int]:
    return rng.choice(POINTS), rng.randint(after + 1, last)


class Runner:
    def __init__(self, out: Path, seed: int):
        self.out, self.rng, self.seed = out, random.Random(seed), seed
        self.recipe = write_recipe(out)

    def argv(self, run_dir: Path, variant: str, *flags: str) -> list[str]:
        return ["train", str(self.recipe), f"train.output_dir={run_dir}", *VARIANTS[variant], *flags]

    def staged(self, name: str, variant: str, first: str, second: str, reference) -> dict:
        """first / second: how the first run and the first resume end ("SIGTERM", "SIGINT", "SIGKILL")."""
        run_dir, log = self.out / name, self.out / f"{name}.log"
        result = {"name": name, "seed": self.seed, "variant": variant, "exits": [], "stops": [], "resumed_from": []}
        for index, how in enumerate((first, second)):
            flags = ("--resume",) if index else ()
            start = _newest_step(run_dir)
            # the first stop leaves the resume at least one step to be stopped in
            where, step = _point(self.rng, start, STEPS - 1 if index == 0 else STEPS)
            result["stops"].append(f"{how} at {where}:{step}")
            result["resumed_from"].append(start)
            if how == "SIGKILL":
                code = run_cli(self.argv(run_dir, variant, *flags), log, kill_at=f"{where}:{step}")
            else:
                code = run_cli(self.argv(run_dir, variant, *flags), log, signal_at=(where, step, getattr(signal, how), 1))
            result["exits"].append(code)
            result[f"checkpoint_after_{index}"] = _newest_step(run_dir)
            result[f"stopped_step_{index}"] = step
        result["resumed_from"].append(_newest_step(run_dir))
        result["exits"].append(run_cli(self.argv(run_dir, variant, "--resume"), log))
        result["differing"] = _differing(run_dir, reference)
        result["log_tail"] = log.read_text()[-2500:]
        return result

    def second_sigint(self) -> dict:
        run_dir, log = self.out / "second_sigint", self.out / "second_sigint.log"
        step = self.rng.randint(3, STEPS)
        step += step % 2  # an even step: one the recipe would checkpoint, so a missing checkpoint means something
        step = min(step, STEPS)
        started = time.perf_counter()
        code = run_cli(self.argv(run_dir, "base"), log, signal_at=("backward", step, signal.SIGINT, 2))
        return {"name": "second_sigint", "seed": self.seed, "step": step, "exit": code, "seconds": time.perf_counter() - started,
                "newest_checkpoint": _newest_step(run_dir), "log_tail": log.read_text()[-2500:]}

    def concurrent(self, reference) -> dict:
        run_dir = self.out / "concurrent"
        marker, release = self.out / "concurrent.at_step", self.out / "concurrent.release"
        first_log, second_log = self.out / "concurrent_first.log", self.out / "concurrent_second.log"
        pid = os.fork()
        if pid == 0:  # the first run: it waits at step 3 until the second one was refused
            code = 3
            try:
                fd = os.open(first_log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
                os.dup2(fd, 1)
                os.dup2(fd, 2)
                from textae.cli import main
                from textae.training import events

                with events.observed_by(_observer(None, None, ("step", 3, str(marker), str(release)))):
                    code = main(self.argv(run_dir, "base"))
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(code)
        deadline = time.monotonic() + CHILD_TIMEOUT_S
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        second = run_cli(self.argv(run_dir, "base"), second_log)
        release.touch()
        first = _wait(pid)
        return {"name": "concurrent", "first_pid": pid, "first_exit": first, "second_exit": second,
                "second_log": second_log.read_text()[-2500:], "differing": _differing(run_dir, reference)}


def main(argv: list[str]) -> None:
    import torch
    import tqdm

    torch.set_num_threads(1)
    tqdm.tqdm.monitor_interval = 0  # no tqdm monitor thread: this process forks
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    seed = int(os.environ.get("TEXTAE_FAULT_SEED") or time.time_ns() % 2**32)
    runner = Runner(out, seed)
    references = {}
    with open(out / "results.jsonl", "w") as f:
        for variant in VARIANTS:
            run_dir = out / f"reference_{variant}"
            code = run_cli(runner.argv(run_dir, variant), out / f"reference_{variant}.log")
            if code != 0:
                raise SystemExit(f"the uninterrupted {variant} run failed:\n{(out / f'reference_{variant}.log').read_text()[-3000:]}")
            references[variant] = _weights(run_dir)
            f.write(json.dumps({"name": f"_reference_{variant}", "tensors": len(references[variant])}) + "\n")
        rows = [
            runner.staged("sigterm", "base", "SIGTERM", "SIGKILL", references["base"]),
            runner.staged("sigint_streaming", "streaming", "SIGINT", "SIGKILL", references["streaming"]),
            runner.staged("sigkill_noise", "noise", "SIGKILL", "SIGTERM", references["noise"]),
            runner.second_sigint(),
            runner.concurrent(references["base"]),
        ]
        for row in rows:
            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
