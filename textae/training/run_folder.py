"""The run folder (``train.output_dir``) is guarded: a finished or interrupted run is never lost.

* A folder that holds checkpoints or a saved model is refused unless the run continues it
  (``resume``) or replaces it (``overwrite``). ``overwrite`` deletes only what a run writes
  (:data:`RUN_OUTPUTS`); any other file in the folder stays.
* A lock (``filelock``) on the folder, taken by the main process only, stops a second process from
  writing the same folder; the PID of the holder is written beside the lock and named in the error.
* ``resume`` compares the recipe with the run's saved ``recipe.yaml``: only the keys in
  :data:`RESUMABLE_KEYS` may change; any other difference is an error, before anything loads.
* A checkpoint whose tensors do not fit the model is named in one line (:func:`check_checkpoint_fits`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
from pathlib import Path

import yaml
from filelock import FileLock, Timeout

from .recipe import DataSection, Recipe, TrainSection

logger = logging.getLogger(__name__)

STATE_FILE = "trainer_state.json"  # as textae.training.loop writes it: a checkpoint is complete once it is inside
LOCK_FILE = ".textae.lock"
PID_FILE = ".textae.lock.pid"
# what a training run writes into its folder; --overwrite deletes these and nothing else
RUN_OUTPUTS = ("checkpoints", "model", "metrics.json", "logs", "plots", "recipe.yaml")
# recipe keys that may differ on a resume: how long to train, how often to evaluate / save / log,
# where to log, what to print, how many loader workers; none of them changes the weights of a step
RESUMABLE_KEYS = frozenset(
    {
        "train.output_dir",  # the folder itself may have been moved
        "train.max_steps",
        "train.eval_every",
        "train.save_every",
        "train.log_every",
        "train.keep_checkpoints",
        "train.eval_max_batches",
        "train.trackers",
        "train.show_reconstructions",
        "train.dataloader_workers",
    }
)


class RunFolderError(ValueError):
    """The run folder cannot be used as asked (it holds a run, is locked, or does not match)."""


def previous_run(run_dir: Path) -> list[str]:
    """What of an earlier run ``run_dir`` holds: ["checkpoints", "model"], either, or []."""
    found = []
    for name in ("checkpoints", "model"):
        path = run_dir / name
        if path.is_dir() and any(path.iterdir()):
            found.append(name)
    return found


def check_folder_usable(run_dir: Path) -> None:
    """An ``output_dir`` that is a file, or a folder that cannot be written, is named before any work."""
    for parent in (run_dir, *run_dir.parents):
        if parent.exists() and not parent.is_dir():
            raise RunFolderError(f"train.output_dir {run_dir}: {parent} is a file, not a folder")
        if parent.exists():
            break
    existing = next(p for p in (run_dir, *run_dir.parents) if p.exists())
    if not os.access(existing, os.W_OK | os.X_OK):
        raise RunFolderError(f"train.output_dir {run_dir} is not writable ({existing}: permission denied)")


def guard(run_dir: Path, resume: bool, overwrite: bool) -> None:
    """Refuses a folder holding a run unless ``resume`` or ``overwrite`` says what to do with it."""
    found = previous_run(run_dir)
    if found and not resume and not overwrite:
        raise RunFolderError(
            f"run folder {run_dir} already holds a run ({' and '.join(found)}); nothing was changed. "
            "Pass --resume to continue it, or --overwrite to replace it (Python: train(recipe, resume=True) "
            "or train(recipe, overwrite=True)), or choose another train.output_dir"
        )
    if resume and "model" in found and not any((run_dir / "checkpoints").glob(f"step_*/{STATE_FILE}")):
        # resuming from step 0 would train the saved model's run again and replace it
        raise RunFolderError(
            f"--resume: run folder {run_dir} holds a saved model but no complete checkpoint to continue from; "
            "nothing was changed. Pass --overwrite to train it again from the start, or choose another train.output_dir"
        )


def clear_outputs(run_dir: Path) -> list[str]:
    """Deletes what an earlier run wrote (:data:`RUN_OUTPUTS`) and returns their names; other files stay."""
    removed = []
    for name in RUN_OUTPUTS:
        path = run_dir / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
        else:
            continue
        removed.append(name)
    return removed


class RunLock:
    """An exclusive lock on a run folder; the holder's PID is written beside it."""

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        self.lock = FileLock(str(run_dir / LOCK_FILE), timeout=0)

    def acquire(self) -> None:
        try:
            self.lock.acquire()
        except Timeout:
            pid_file = self.run_dir / PID_FILE
            holder = pid_file.read_text().strip() if pid_file.exists() else "unknown"
            raise RunFolderError(
                f"run folder {self.run_dir} is in use by another textae process (PID {holder}); "
                "wait for it to end, or choose another train.output_dir"
            ) from None
        (self.run_dir / PID_FILE).write_text(f"{os.getpid()}\n")

    def release(self) -> None:
        if self.lock.is_locked:
            (self.run_dir / PID_FILE).unlink(missing_ok=True)
            self.lock.release()


def _flatten(tree: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _defaults() -> dict:
    """Flat defaults of the data and train sections: a key an older recipe.yaml lacks had its default."""
    return _flatten({"data": dataclasses.asdict(DataSection()), "train": dataclasses.asdict(TrainSection())})


def recipe_changes(saved: dict, recipe: Recipe) -> list[tuple[str, object, object]]:
    """(key, saved value, new value) for every recipe key that differs from the saved recipe."""
    # the new recipe goes through YAML as the saved one did, so 2e-3 and 0.002 compare equal
    new = _flatten(yaml.safe_load(yaml.safe_dump(recipe.to_dict(), sort_keys=False)))
    old = _flatten(saved)
    missing = object()
    defaults = _defaults()
    changes = []
    for key in sorted(set(old) | set(new)):
        before, after = old.get(key, defaults.get(key, missing)), new.get(key, defaults.get(key, missing))
        if before != after:
            changes.append((key, "(not set)" if before is missing else before, "(not set)" if after is missing else after))
    return changes


def check_resume_recipe(run_dir: Path, recipe: Recipe) -> None:
    """Refuses a resume whose recipe differs from the run's saved recipe.yaml outside :data:`RESUMABLE_KEYS`."""
    saved_path = run_dir / "recipe.yaml"
    if not saved_path.exists():
        return
    saved = yaml.safe_load(saved_path.read_text(encoding="utf-8")) or {}
    changes = recipe_changes(saved, recipe)
    refused = [(k, a, b) for k, a, b in changes if k not in RESUMABLE_KEYS and not k.startswith("train.trackers")]
    if refused:
        lines = "; ".join(f"{k}: {a!r} → {b!r}" for k, a, b in refused)
        raise RunFolderError(
            f"--resume: the recipe differs from the run's {saved_path} in {len(refused)} key(s) that cannot change on a "
            f"resume: {lines}. Keys that may change: {', '.join(sorted(RESUMABLE_KEYS))}. "
            "Undo the change, or start a new run (another train.output_dir, or --overwrite)"
        )
    for key, before, after in changes:
        logger.info("resume: %s changed from %r to %r", key, before, after)


def check_checkpoint_fits(checkpoint: Path, model) -> None:
    """One line naming the first tensor of ``checkpoint/model.safetensors`` that the model does not
    have, or that has another shape there (instead of torch's many-line load_state_dict error)."""
    import torch
    from safetensors import safe_open

    if isinstance(model, torch._dynamo.eval_frame.OptimizedModule):
        model = model._orig_mod  # a torch.compile wrapper prefixes every key; the checkpoint has none
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    with safe_open(str(checkpoint / "model.safetensors"), framework="pt") as f:
        for key in f.keys():
            shape = tuple(f.get_slice(key).get_shape())
            if key not in expected:
                raise RunFolderError(f"checkpoint {checkpoint} does not fit the model: it has tensor {key} {list(shape)}, which the model has not (was the recipe changed?)")
            if shape != expected[key]:
                raise RunFolderError(
                    f"checkpoint {checkpoint} does not fit the model: tensor {key} has shape {list(shape)} there and "
                    f"{list(expected[key])} in the model (was the recipe changed?)"
                )


class _SharedTensorNote(logging.Filter):
    """accelerate warns "Removed shared tensor {...} while saving" at every checkpoint of a model with
    tied weights (the LM head shares the token embeddings). Nothing is lost: the tie is one Parameter,
    and a resume loads into a model that has it. The note is dropped, and only that note."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Removed shared tensor" not in record.getMessage()


@contextlib.contextmanager
def quiet_tied_weight_note():
    target = logging.getLogger("accelerate.utils.other")
    note = _SharedTensorNote()
    target.addFilter(note)
    try:
        yield
    finally:
        target.removeFilter(note)


@contextlib.contextmanager
def open_run_folder(recipe: Recipe, resume: bool = False, overwrite: bool = False):
    """Everything :func:`textae.training.train` does to its folder before and after the run, on the
    main process: the lock, the guard, the resume recipe check and ``overwrite``'s clearing. The
    other processes of a multi-process run get the main process's verdict."""
    from accelerate import PartialState

    run_dir = Path(recipe.train.output_dir)
    state = PartialState(cpu=recipe.train.cpu)  # as the run's Accelerator will make it
    lock = RunLock(run_dir) if state.is_main_process else None
    error = None
    if lock is not None:
        try:
            _prepare(run_dir, lock, recipe, resume, overwrite)
        except (OSError, RunFolderError) as err:
            lock.release()
            error = err if isinstance(err, RunFolderError) else RunFolderError(f"train.output_dir {run_dir}: {err}")
    if state.num_processes > 1:  # the other processes stop too when the main one cannot use the folder
        from accelerate.utils import broadcast_object_list

        message = broadcast_object_list([str(error) if error is not None else None])
        if message[0] is not None and error is None:
            raise RunFolderError(message[0])
    if error is not None:
        raise error
    try:
        with quiet_tied_weight_note():
            yield run_dir
    finally:
        if lock is not None:
            lock.release()


def _prepare(run_dir: Path, lock: RunLock, recipe: Recipe, resume: bool, overwrite: bool) -> None:
    if resume and overwrite:
        raise RunFolderError("--resume and --overwrite exclude each other: continue the run in the folder, or replace it")
    check_folder_usable(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    lock.acquire()  # first: a folder in use is named as such, whatever it holds
    guard(run_dir, resume, overwrite)
    if resume:
        check_resume_recipe(run_dir, recipe)
    if overwrite:
        removed = clear_outputs(run_dir)
        if removed:
            logger.warning("--overwrite: removed %s from %s", ", ".join(removed), run_dir)
