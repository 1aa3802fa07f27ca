"""Guarded run folders: a rerun never destroys a run, --overwrite replaces only what a run writes, a
second process cannot write a locked folder, and a resume is checked against the run's recipe."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import pytest
import yaml

from tests.training.test_loop import TINY, tiny_recipe
from textae.cli import main
from textae.training import complete_checkpoints, train
from textae.training.run_folder import LOCK_FILE, PID_FILE, RESUMABLE_KEYS, RunFolderError, RunLock

SHORT = ("train.max_steps=4", "train.save_every=2", "train.eval_every=0", "train.show_reconstructions=0")


def digest(run_dir: Path) -> dict[str, str]:
    """sha256 of every file of the run's model and checkpoints."""
    files = [p for name in ("model", "checkpoints") for p in sorted((run_dir / name).rglob("*")) if p.is_file()]
    return {str(p.relative_to(run_dir)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


@pytest.fixture
def recipe_file(tmp_path) -> Path:
    tree = json.loads(json.dumps(TINY))
    tree["train"].update(max_steps=4, save_every=2, eval_every=0, show_reconstructions=0, output_dir=str(tmp_path / "run"))
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(tree))
    return path


def test_a_rerun_in_a_finished_run_folder_is_refused_and_changes_no_byte(recipe_file, tmp_path, capsys):
    assert main(["train", str(recipe_file)]) == 0
    run = tmp_path / "run"
    before = digest(run)
    assert any(k.startswith("checkpoints/") for k in before) and "model/model.safetensors" in before
    capsys.readouterr()
    # the same command, as a user fixing a typo would rerun it, with a shorter budget
    assert main(["train", str(recipe_file), "train.max_steps=2"]) == 2
    err = capsys.readouterr().err
    assert f"run folder {run} already holds a run (checkpoints and model)" in err
    assert "--resume" in err and "--overwrite" in err
    assert digest(run) == before


def test_the_python_api_refuses_the_same_way(tmp_path):
    train(tiny_recipe(tmp_path, *SHORT))
    before = digest(tmp_path)
    with pytest.raises(RunFolderError, match="already holds a run.*resume=True.*overwrite=True"):
        train(tiny_recipe(tmp_path, *SHORT))
    assert digest(tmp_path) == before


def test_overwrite_replaces_the_run_and_keeps_every_other_file(tmp_path):
    train(tiny_recipe(tmp_path, "train.max_steps=6", "train.save_every=2", "train.eval_every=0", "train.keep_checkpoints=5"))
    (tmp_path / "notes.txt").write_text("my notes")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.txt").write_text("a sentence .\n")
    result = train(tiny_recipe(tmp_path, *SHORT), overwrite=True)
    assert [p.name for p in complete_checkpoints(tmp_path)] == ["step_00000002", "step_00000004"]  # step 6 was the old run's
    assert result.metrics["throughput"]["steps"] == 4
    logged = [json.loads(line)["step"] for line in (tmp_path / "logs" / "metrics.jsonl").read_text().splitlines()]
    assert logged == [2, 4]  # the old run's lines (steps 2, 4, 6) are gone
    assert (tmp_path / "notes.txt").read_text() == "my notes"
    assert (tmp_path / "data" / "train.txt").read_text() == "a sentence .\n"


def test_resume_and_overwrite_exclude_each_other(tmp_path):
    with pytest.raises(RunFolderError, match="exclude each other"):
        train(tiny_recipe(tmp_path, *SHORT), resume=True, overwrite=True)


def test_a_locked_folder_names_the_pid_that_holds_it(tmp_path):
    holder = RunLock(tmp_path)
    holder.acquire()
    assert (tmp_path / PID_FILE).read_text().strip() == str(os.getpid())
    try:
        with pytest.raises(RunFolderError, match=f"in use by another textae process \\(PID {os.getpid()}\\)"):
            train(tiny_recipe(tmp_path, *SHORT))
    finally:
        holder.release()
    assert not (tmp_path / PID_FILE).exists() and not (tmp_path / "model").exists()
    train(tiny_recipe(tmp_path, *SHORT))  # released: the folder is usable again
    assert (tmp_path / LOCK_FILE).exists() and not (tmp_path / PID_FILE).exists()


def test_a_resume_with_a_changed_model_key_fails_before_loading_naming_old_and_new(tmp_path, monkeypatch):
    train(tiny_recipe(tmp_path, *SHORT, "train.max_steps=2"))
    import textae.training.loop as loop

    def must_not_run(*args, **kwargs):
        raise AssertionError("data was loaded before the recipe was checked")

    monkeypatch.setattr(loop, "prepare_data", must_not_run)
    with pytest.raises(RunFolderError) as err:
        train(tiny_recipe(tmp_path, *SHORT, "model.latent_dim=8", "train.learning_rate=0.01"), resume=True)
    message = str(err.value)
    assert "model.latent_dim: 16 → 8" in message and "train.learning_rate: 0.001 → 0.01" in message
    assert "train.max_steps" not in message.split("Keys that may change")[0]  # an allowed change is not listed


def test_a_resume_may_change_the_budget_and_cadence(tmp_path):
    train(tiny_recipe(tmp_path, *SHORT), stop_after_step=2)
    result = train(tiny_recipe(tmp_path, "train.max_steps=6", "train.save_every=3", "train.log_every=3", "train.eval_every=0", "train.show_reconstructions=1"), resume=True)
    assert result.metrics["throughput"]["steps"] == 4  # steps 3..6 after the checkpoint of step 2


def test_resumable_keys_are_recipe_keys():
    from textae.training.run_folder import _flatten

    assert RESUMABLE_KEYS <= set(_flatten(tiny_recipe(Path("unused")).to_dict()))  # each of them names a real setting


def test_a_checkpoint_that_does_not_fit_names_the_tensor_in_one_line(tmp_path):
    train(tiny_recipe(tmp_path, *SHORT), stop_after_step=2)
    (tmp_path / "recipe.yaml").unlink()  # no saved recipe to compare with: the weights themselves do not fit
    with pytest.raises(RunFolderError) as err:
        train(tiny_recipe(tmp_path, *SHORT, "model.latent_dim=8"), resume=True)
    message = str(err.value)
    assert "\n" not in message
    assert "step_00000002 does not fit the model: tensor bottleneck.proj.bias has shape [16] there and [8] in the model" in message


def test_an_output_dir_that_is_a_file_is_named(tmp_path):
    (tmp_path / "run").write_text("not a folder")
    with pytest.raises(RunFolderError, match="is a file, not a folder"):
        train(tiny_recipe(tmp_path / "run", *SHORT))


def test_an_output_dir_that_cannot_be_written_is_named(tmp_path, monkeypatch):
    # root may write anywhere, so the permission itself is what is faked
    import textae.training.run_folder as run_folder

    monkeypatch.setattr(run_folder.os, "access", lambda path, mode: Path(path) != tmp_path)
    with pytest.raises(RunFolderError, match="is not writable"):
        train(tiny_recipe(tmp_path / "run", *SHORT))


def test_checkpoints_of_tied_weights_print_no_shared_tensor_note(tmp_path, caplog):
    from accelerate.utils.other import clean_state_dict_for_safetensors

    caplog.set_level(logging.WARNING)
    result = train(tiny_recipe(tmp_path, *SHORT))
    assert len(complete_checkpoints(tmp_path)) == 2
    assert "Removed shared tensor" not in caplog.text
    # the note is real outside a run (the LM head shares the token embeddings), and only the run hides it
    clean_state_dict_for_safetensors(dict(result.model.state_dict()))
    assert "Removed shared tensor {'decoder.lm.lm_head.weight'}" in caplog.text


def test_resume_of_a_finished_run_without_checkpoints_is_refused(tmp_path):
    train(tiny_recipe(tmp_path, *SHORT, "train.save_every=0"))
    before = digest(tmp_path)
    with pytest.raises(RunFolderError, match="holds a saved model but no complete checkpoint to continue from.*--overwrite"):
        train(tiny_recipe(tmp_path, *SHORT, "train.save_every=0"), resume=True)
    assert digest(tmp_path) == before


def test_the_guard_counts_complete_checkpoints_as_the_loop_does():
    import textae.training.loop as loop
    import textae.training.run_folder as run_folder

    assert run_folder.STATE_FILE == loop.STATE_FILE
