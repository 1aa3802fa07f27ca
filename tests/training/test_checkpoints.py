"""Checkpoints named by step: only complete ones count, old ones are pruned, resume restores weights and position."""

from __future__ import annotations

import json

import pytest
import torch

from tests.conftest import fresh_accelerator
from textae.training import complete_checkpoints, events
from textae.training.checkpoints import STATE_FILE, Position, resume_position, save_checkpoint


def test_complete_checkpoints_skips_temporary_and_stateless_folders(tmp_path):
    folder = tmp_path / "checkpoints"
    for name, state in [("step_00000002", True), ("step_00000010", True), ("step_00000004", False), (".tmp_step_00000012", True), ("notes", True)]:
        (folder / name).mkdir(parents=True)
        if state:
            (folder / name / "trainer_state.json").write_text("{}")
    (folder / "step_00000020").write_text("a file, not a folder")
    assert [p.name for p in complete_checkpoints(tmp_path)] == ["step_00000002", "step_00000010"]  # sorted by step, not by name


def test_a_run_without_a_checkpoint_folder_has_none(tmp_path):
    assert complete_checkpoints(tmp_path) == []


@pytest.fixture
def prepared():
    torch.manual_seed(0)
    accelerator = fresh_accelerator()
    model = torch.nn.Linear(4, 3)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    model, optimizer = accelerator.prepare(model, optimizer)
    return accelerator, model, optimizer


def step(model, optimizer):
    model(torch.ones(2, 4)).sum().backward()
    optimizer.step()
    optimizer.zero_grad()


def test_saving_keeps_the_newest_and_passes_its_points_in_order(tmp_path, prepared):
    accelerator, model, optimizer = prepared
    seen = []
    with events.observed_by(lambda name, s: seen.append((name, s))):
        for s in (2, 4, 6):
            step(model, optimizer)
            save_checkpoint(accelerator, tmp_path, s, batches_seen=3 * s, keep=2)
    assert [p.name for p in complete_checkpoints(tmp_path)] == ["step_00000004", "step_00000006"]
    assert not list((tmp_path / "checkpoints").glob(".tmp_*"))
    assert [name for name, s in seen if s == 6] == ["save_begin", "save_state", "save_state_file", "save_renamed", "save_pruned"]
    last = complete_checkpoints(tmp_path)[-1]
    assert json.loads((last / STATE_FILE).read_text()) == {"step": 6, "batches_seen": 18}
    assert (last / "model.safetensors").exists()


def test_keep_zero_keeps_every_checkpoint(tmp_path, prepared):
    accelerator, model, optimizer = prepared
    for s in (1, 2, 3):
        save_checkpoint(accelerator, tmp_path, s, batches_seen=s, keep=0)
    assert len(complete_checkpoints(tmp_path)) == 3


def test_resume_restores_the_weights_and_the_position_of_the_newest(tmp_path, prepared):
    accelerator, model, optimizer = prepared
    step(model, optimizer)
    save_checkpoint(accelerator, tmp_path, 5, batches_seen=10, keep=3)
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    step(model, optimizer)
    assert not torch.equal(model.weight, saved["weight"])
    assert resume_position(accelerator, tmp_path, resume=True) == Position(step=5, batches_seen=10)
    assert all(torch.equal(v, saved[k]) for k, v in model.state_dict().items())


def test_without_resume_or_a_checkpoint_training_starts_at_zero(tmp_path, prepared, caplog):
    accelerator, model, optimizer = prepared
    assert resume_position(accelerator, tmp_path, resume=False) == Position()
    caplog.set_level("WARNING", logger="textae.training.checkpoints")
    assert resume_position(accelerator, tmp_path, resume=True) == Position(step=0, batches_seen=0)
    assert "no complete checkpoint" in caplog.text


def test_a_checkpoint_without_safetensors_weights_is_refused(tmp_path, prepared):
    accelerator, _, _ = prepared
    folder = tmp_path / "checkpoints" / "step_00000003"
    folder.mkdir(parents=True)
    (folder / STATE_FILE).write_text('{"step": 3, "batches_seen": 3}')
    (folder / "pytorch_model.bin").write_bytes(b"")
    with pytest.raises(ValueError, match=r"step_00000003 has no model.safetensors; textae loads weights only from safetensors"):
        resume_position(accelerator, tmp_path, resume=True)
