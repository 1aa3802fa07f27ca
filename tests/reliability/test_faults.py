"""Crash safety of training: a run killed with SIGKILL anywhere (mid step, between the optimizer and
the scheduler, inside a checkpoint write, while pruning, while recovering) resumes from its newest
complete checkpoint and ends with weights bit-identical to an uninterrupted run with the same seed.

The kills happen in child processes of one runner process (tests/reliability/fault_runner.py), so the
imports are paid once; see that module for how each kill point is reached.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.reliability.subprocess_results import run_and_read
from tests.reliability.fault_runner import SCENARIOS
from tests.reliability.kill_points import kill_at
from textae.training import events

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not hasattr(os, "fork") or not hasattr(signal, "SIGKILL"), reason="needs fork and SIGKILL (POSIX)"),
]


@pytest.fixture(scope="module")
def fault_results(tmp_path_factory) -> dict[str, dict]:
    return run_and_read("tests.reliability.fault_runner", tmp_path_factory.mktemp("faults"), timeout=900)


def test_there_are_at_least_20_kill_points():
    kills = sum(len(spec["faults"]) for spec in SCENARIOS.values())
    assert len(SCENARIOS) >= 20 and kills >= 20


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_a_killed_run_resumes_to_the_same_weights(fault_results, name):
    result = fault_results[name]
    spec = SCENARIOS[name]
    assert result["final_exit"] == 0, result["error"]
    # each planned kill really happened (a SIGKILL, not an exception or a normal end); a kill from
    # outside after a time may find the run already done on a fast machine
    for fault, code in zip(spec["faults"], result["exits"], strict=True):
        assert code == -signal.SIGKILL or (fault.startswith("after:") and code == 0), (fault, code)
    # every resume loaded the newest complete checkpoint, and every checkpoint counted complete was whole
    for load in result["loads"]:
        loaded = Path(load["loaded"])
        assert loaded == Path(load["newest_complete"]) and loaded.name.startswith("step_"), load
        assert load["all_complete_whole"], load
    assert result["keys_match"] and result["tensors"] == fault_results["_reference"]["tensors"] > 10
    assert result["differing"] == [], f"{len(result['differing'])} tensors differ from the uninterrupted run: {result['differing'][:5]}"


def test_kills_before_the_first_checkpoint_restart_from_scratch(fault_results):
    for name in ("batch:1", "save_begin:2"):
        assert fault_results[name]["loads"] == [] and fault_results[name]["differing"] == []


def test_a_torn_or_unrenamed_checkpoint_is_never_loaded(fault_results):
    # killed while writing (or before renaming) the checkpoint of step S: the resume loads S - 2
    expected = {"save_state:4": 2, "save_state_file:6": 4, "write:model.safetensors:6": 4, "write:optimizer.bin:6": 4, "write:scheduler.bin:10": 8, "write:random_states_0.pkl:4": 2, "save_state:12": 10}
    for name, step in expected.items():
        (load,) = fault_results[name]["loads"]
        assert Path(load["loaded"]).name == f"step_{step:08d}", (name, load)


def test_newer_garbage_folders_are_ignored(fault_results):
    result = fault_results["plant:step:7"]
    (load,) = result["loads"]
    assert Path(load["loaded"]).name == "step_00000006"  # not .tmp_step_00000099, not step_00000098 (no state file)
    assert result["leftover_tmp"] == [".tmp_step_00000099"] and result["differing"] == []


def test_the_fault_hook_does_nothing_unless_its_exact_point_is_named(monkeypatch):
    import tests.reliability.kill_points as kill_points

    kills = []
    monkeypatch.setattr(kill_points.os, "kill", lambda pid, sig: kills.append((pid, sig)))  # record instead of dying
    events.emit("save_state", 4)  # no callback: nothing happens
    with events.observed_by(kill_at("save_state:4")):
        events.emit("save_state", 40)
        events.emit("save_state_file", 4)
        events.emit("save", 4)
        assert kills == []  # only "save_state:4" kills
        events.emit("save_state", 4)
    assert kills == [(os.getpid(), signal.SIGKILL)]
    events.emit("save_state", 4)  # the callback is gone after the block
    assert len(kills) == 1
