"""Preemption and crashes through ``textae train``: SIGTERM / SIGINT at a random step stop after a
complete checkpoint with exit 75, SIGKILL of ``textae train --resume`` itself loses nothing, and every
run resumed to its end has the weights of an uninterrupted run, bit for bit: the plain tiny AE, a
streaming corpus and text noise. A second Ctrl-C exits at once; a second ``textae train`` into a
running run's folder is refused with the holder's PID. The runs: tests/reliability/cli_fault_runner.py.
"""

from __future__ import annotations

import os
import signal

import pytest

from tests.reliability.subprocess_results import run_and_read
from textae.training.preemption import EXIT_PREEMPTED

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not hasattr(os, "fork") or not hasattr(signal, "SIGKILL"), reason="needs fork and signals (POSIX)"),
]


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[str, dict]:
    return run_and_read("tests.reliability.cli_fault_runner", tmp_path_factory.mktemp("cli_faults"), timeout=600)


def _check_staged(row: dict, first: int, second: int) -> None:
    context = f"seed {row['seed']}, {row['stops']}, resumed from {row['resumed_from']}:\n{row['log_tail']}"
    assert row["exits"] == [first, second, 0], context
    assert row["differing"] == [], f"{len(row['differing'])} tensors differ from the uninterrupted run ({context})"


def _check_preempted_checkpoint(row: dict, stage: int) -> None:
    # a signal mid-step finishes that step and checkpoints it: the resume starts right after it
    assert row[f"checkpoint_after_{stage}"] == row[f"stopped_step_{stage}"], row["stops"]


def test_sigterm_at_a_random_step_then_resume_killed_then_resume_is_bit_identical(results):
    row = results["sigterm"]
    _check_staged(row, EXIT_PREEMPTED, -signal.SIGKILL)
    _check_preempted_checkpoint(row, 0)
    assert "stopped by SIGTERM after step" in row["log_tail"] or row["exits"][0] == EXIT_PREEMPTED


def test_sigint_at_a_random_step_of_a_streaming_run_then_resume_is_bit_identical(results):
    row = results["sigint_streaming"]
    _check_staged(row, EXIT_PREEMPTED, -signal.SIGKILL)
    _check_preempted_checkpoint(row, 0)


def test_sigkill_then_sigterm_of_the_resumed_run_with_text_noise_is_bit_identical(results):
    row = results["sigkill_noise"]
    _check_staged(row, -signal.SIGKILL, EXIT_PREEMPTED)
    _check_preempted_checkpoint(row, 1)


def test_a_second_ctrl_c_exits_at_once_without_a_checkpoint_of_that_step(results):
    row = results["second_sigint"]
    assert row["exit"] == 128 + signal.SIGINT, row["log_tail"]
    assert "second SIGINT: exiting now" in row["log_tail"]
    assert row["newest_checkpoint"] < row["step"]  # the interrupted step was neither finished nor saved


def test_a_second_train_into_a_running_runs_folder_is_refused_and_the_first_is_unchanged(results):
    row = results["concurrent"]
    assert row["second_exit"] == 2, row["second_log"]
    assert f"is in use by another textae process (PID {row['first_pid']})" in row["second_log"]
    assert row["first_exit"] == 0 and row["differing"] == []
