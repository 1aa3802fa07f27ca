"""The signal handling of a run (textae.training.preemption), in this process: what a first and a
second signal do, before and after the loop arms the handlers, and that the old handlers come back.
The end-to-end runs (a real signal, a checkpoint, --resume) are in tests/reliability/test_cli_faults.py."""

from __future__ import annotations

import os
import signal

import pytest

from tests.training.test_loop import tiny_recipe
from textae.training import complete_checkpoints, preemption, train
from textae.training.preemption import EXIT_PREEMPTED, TrainingPreempted


@pytest.fixture
def exits(monkeypatch) -> list[int]:
    calls: list[int] = []
    monkeypatch.setattr(preemption, "_exit_now", calls.append)  # record instead of leaving the test process
    return calls


def test_a_first_signal_asks_to_stop_and_a_second_exits_at_once(exits):
    with preemption.handlers():
        preemption.arm()
        assert preemption.requested() is None
        os.kill(os.getpid(), signal.SIGINT)
        assert preemption.requested() == "SIGINT" and exits == []
        os.kill(os.getpid(), signal.SIGINT)
        assert exits == [128 + signal.SIGINT]


def test_sigterm_asks_to_stop_like_sigint(exits):
    with preemption.handlers():
        preemption.arm()
        os.kill(os.getpid(), signal.SIGTERM)
        assert preemption.requested() == "SIGTERM" and exits == []


def test_before_the_loop_ctrl_c_interrupts_as_usual(exits):
    with preemption.handlers(), pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)
    assert exits == []


def test_the_previous_handlers_are_restored():
    before = {s: signal.getsignal(s) for s in preemption.SIGNALS}
    with preemption.handlers():
        assert signal.getsignal(signal.SIGTERM) is not before[signal.SIGTERM]
    assert {s: signal.getsignal(s) for s in preemption.SIGNALS} == before
    assert preemption.requested() is None


def test_the_exit_code_is_its_own():
    assert EXIT_PREEMPTED not in (0, 1, 2, 3) and EXIT_PREEMPTED < 128  # not an error, not a signal death


def test_a_stop_request_mid_run_checkpoints_that_step_and_raises(tmp_path, monkeypatch):
    def point(name, step):
        if (name, step) == ("backward", 3):  # mid step 3: it is finished, then checkpointed
            os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(TrainingPreempted, match="stopped by SIGTERM after step 3") as stop:
        train(tiny_recipe(tmp_path, "train.max_steps=6", "train.save_every=4", "train.eval_every=0"), on_event=point)
    assert stop.value.step == 3 and [p.name for p in complete_checkpoints(tmp_path)] == ["step_00000003"]
    assert not (tmp_path / "model").exists()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the run's handlers are gone
