"""What the loop watches while it trains: running means of the logged scalars, throughput on a
training clock, and the guard against non-finite losses or gradients."""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path

from .checkpoints import complete_checkpoints

logger = logging.getLogger(__name__)


class NonFiniteLossError(RuntimeError):
    """Training met too many non-finite losses or gradients in a row."""



class NonFiniteGuard:
    """Counts skipped updates (NaN / inf loss or gradient); too many in a row stop training."""

    def __init__(self, limit: int):
        self.limit = limit
        self.total = 0
        self.in_a_row = 0

    def record(self, step: int, accelerator, run_dir: Path) -> None:
        self.total += 1
        self.in_a_row += 1
        accelerator.log({"train/skipped_nonfinite_updates": self.total}, step=step)
        logger.warning("non-finite loss or gradient at step %d: update skipped (%d in a row, %d in all)", step, self.in_a_row, self.total)
        if self.in_a_row >= self.limit:
            last = complete_checkpoints(run_dir)
            where = f"the last good checkpoint is {last[-1]}" if last else "no checkpoint was written yet"
            raise NonFiniteLossError(
                f"{self.in_a_row} updates in a row had a non-finite loss or gradient (step {step}); training stopped; {where}. "
                "Lower train.learning_rate, enable clipping (train.max_grad_norm) or check the data."
            )



def scalars(out) -> dict[str, float]:
    values = {"loss": out.loss.detach()}
    values.update({f"loss_{k}": v.detach() for k, v in (out.loss_terms or {}).items()})
    values.update({k: v.detach() for k, v in (out.stats or {}).items()})
    return {k: float(v) for k, v in values.items()}



class Meter:
    """Running means of logged scalars between two log lines."""

    def __init__(self):
        self.sums: dict[str, float] = {}
        self.count = 0

    def add(self, values: dict[str, float]) -> None:
        for k, v in values.items():
            self.sums[k] = self.sums.get(k, 0.0) + v
        self.count += 1

    def pop(self) -> dict[str, float]:
        means = {k: v / max(1, self.count) for k, v in self.sums.items()}
        self.sums, self.count = {}, 0
        return means



class Throughput:
    """Predicted (non-padding) tokens per second, since the last log line and since the start, on a
    training clock that leaves out evaluation and checkpoints (:meth:`paused`)."""

    def __init__(self, num_processes: int):
        self.scale = num_processes
        self.window = self.total = 0
        self.window_start = self.start = time.perf_counter()
        self.excluded = 0.0

    @contextlib.contextmanager
    def paused(self):
        began = time.perf_counter()
        try:
            yield
        finally:
            spent = time.perf_counter() - began
            self.excluded += spent
            self.window_start += spent

    def train_seconds(self) -> float:
        return time.perf_counter() - self.start - self.excluded

    def add(self, batch) -> None:
        n = int((batch["labels"][:, 1:] != -100).sum())  # predicted tokens, EOS included
        self.window += n
        self.total += n

    def pop_rate(self) -> float:
        now = time.perf_counter()
        rate = self.window * self.scale / max(now - self.window_start, 1e-9)
        self.window, self.window_start = 0, now
        return rate

    def summary(self, steps: int) -> dict:
        seconds = self.train_seconds()
        tokens = self.total * self.scale
        return {"steps": steps, "seconds": seconds, "tokens": tokens, "tokens_per_second": tokens / max(seconds, 1e-9)}

