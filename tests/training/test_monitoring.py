"""What the loop watches: running means, throughput on a training clock, the non-finite guard."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
import torch

from textae.training.monitoring import Meter, NonFiniteGuard, NonFiniteLossError, Throughput, scalars


class LogRecorder:
    def __init__(self):
        self.logged = []

    def log(self, values, step):
        self.logged.append((step, values))


def test_the_guard_counts_skips_and_stops_at_the_limit_naming_the_last_checkpoint(tmp_path, caplog):
    (tmp_path / "checkpoints" / "step_00000004").mkdir(parents=True)
    (tmp_path / "checkpoints" / "step_00000004" / "trainer_state.json").write_text("{}")
    guard, accelerator = NonFiniteGuard(limit=3), LogRecorder()
    caplog.set_level("WARNING", logger="textae.training.monitoring")
    guard.record(5, accelerator, tmp_path)
    guard.record(6, accelerator, tmp_path)
    with pytest.raises(NonFiniteLossError, match=r"3 updates in a row .* \(step 7\); training stopped; the last good checkpoint is .*step_00000004"):
        guard.record(7, accelerator, tmp_path)
    assert accelerator.logged == [(5, {"train/skipped_nonfinite_updates": 1}), (6, {"train/skipped_nonfinite_updates": 2}), (7, {"train/skipped_nonfinite_updates": 3})]
    assert "update skipped (2 in a row, 2 in all)" in caplog.text


def test_the_guard_says_when_there_is_no_checkpoint_and_what_to_try(tmp_path):
    with pytest.raises(NonFiniteLossError, match=r"no checkpoint was written yet\. Lower train.learning_rate, enable clipping"):
        NonFiniteGuard(limit=1).record(1, LogRecorder(), tmp_path)


def test_a_good_update_between_skips_restarts_the_count_in_a_row(tmp_path):
    guard = NonFiniteGuard(limit=2)
    guard.record(1, LogRecorder(), tmp_path)
    guard.in_a_row = 0  # what the loop does after an update that went through
    guard.record(3, LogRecorder(), tmp_path)
    assert guard.total == 2 and guard.in_a_row == 1


def test_scalars_flatten_the_loss_its_terms_and_stats():
    out = SimpleNamespace(loss=torch.tensor(2.5, requires_grad=True), loss_terms={"kl": torch.tensor(0.5)}, stats={"posterior_std": torch.tensor(0.25)})
    assert scalars(out) == {"loss": 2.5, "loss_kl": 0.5, "posterior_std": 0.25}
    assert scalars(SimpleNamespace(loss=torch.tensor(1.0), loss_terms=None, stats=None)) == {"loss": 1.0}


def test_the_meter_gives_means_since_the_last_pop():
    meter = Meter()
    meter.add({"loss": 1.0, "kl": 4.0})
    meter.add({"loss": 3.0, "kl": 0.0})
    assert meter.pop() == {"loss": 2.0, "kl": 2.0}
    assert meter.pop() == {}
    meter.add({"loss": 5.0})
    assert meter.pop() == {"loss": 5.0}


def test_throughput_counts_predicted_tokens_and_leaves_out_paused_time():
    clock = Throughput(num_processes=2)
    labels = torch.tensor([[1, 5, 6, 2], [1, 7, 2, -100]])
    clock.add({"labels": labels})
    clock.add({"labels": labels})
    assert clock.total == 2 * 5  # BOS is read, never predicted; EOS is predicted; padding is not
    with clock.paused():
        time.sleep(0.2)
    assert clock.excluded >= 0.2 and clock.train_seconds() < 0.2
    summary = clock.summary(steps=2)
    assert summary["steps"] == 2 and summary["tokens"] == 20
    assert summary["tokens_per_second"] == pytest.approx(20 / summary["seconds"], rel=1e-6)
    assert clock.pop_rate() > 20 / 0.2  # the paused time does not count in the window either
    assert clock.window == 0
