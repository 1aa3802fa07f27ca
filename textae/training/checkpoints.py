"""Checkpoints named by step, written so that a half-written one is never loaded, and exact resume.

A checkpoint is written to a temporary folder and renamed; it counts as complete once its state
file (the step and the micro-batches read) is inside. Resume reads only safetensors weights and
tensor-only state pickles.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import shutil
from dataclasses import dataclass
from pathlib import Path

from accelerate import Accelerator

from . import events
from .run_folder import check_checkpoint_fits

logger = logging.getLogger(__name__)

CHECKPOINT_PREFIX = "step_"
STATE_FILE = "trainer_state.json"


@dataclass
class Position:
    """Where training stands: optimizer steps taken and micro-batches read (what resume restores)."""

    step: int = 0
    batches_seen: int = 0



def complete_checkpoints(run_dir: Path) -> list[Path]:
    """Finished checkpoints, oldest first (a folder counts only once its state file is inside)."""
    folder = Path(run_dir) / "checkpoints"
    if not folder.exists():
        return []
    found = [p for p in folder.iterdir() if p.is_dir() and p.name.startswith(CHECKPOINT_PREFIX) and (p / STATE_FILE).exists()]
    return sorted(found, key=lambda p: int(p.name[len(CHECKPOINT_PREFIX) :]))



def save_checkpoint(accelerator: Accelerator, run_dir: Path, step: int, batches_seen: int, keep: int) -> None:
    folder = run_dir / "checkpoints"
    final = folder / f"{CHECKPOINT_PREFIX}{step:08d}"
    tmp = folder / f".tmp_{CHECKPOINT_PREFIX}{step:08d}"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
    accelerator.wait_for_everyone()
    events.emit("save_begin", step)
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()
    events.emit("save_state", step)
    if accelerator.is_main_process:
        (tmp / STATE_FILE).write_text(json.dumps({"step": step, "batches_seen": batches_seen}))
        events.emit("save_state_file", step)
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        events.emit("save_renamed", step)
        for old in complete_checkpoints(run_dir)[:-keep] if keep > 0 else []:
            # the state file goes first: a crash inside rmtree leaves an incomplete folder, never a
            # "complete" one with its weights half deleted
            (old / STATE_FILE).unlink(missing_ok=True)
            shutil.rmtree(old, ignore_errors=True)
        events.emit("save_pruned", step)
    accelerator.wait_for_everyone()



def resume_position(accelerator: Accelerator, run_dir: Path, resume: bool, model=None) -> Position:
    checkpoints = complete_checkpoints(run_dir) if resume else []
    if resume and not checkpoints:
        logger.warning("--resume: no complete checkpoint in %s; starting from step 0", run_dir / "checkpoints")
    if not checkpoints:
        return Position()
    if not (checkpoints[-1] / "model.safetensors").exists():
        # accelerate would fall back to unpickling pytorch_model.bin; textae reads weights only from safetensors
        raise ValueError(f"checkpoint {checkpoints[-1]} has no model.safetensors; textae loads weights only from safetensors files, never from pickles")
    if model is not None:
        check_checkpoint_fits(checkpoints[-1], accelerator.unwrap_model(model))  # one line naming a misfit tensor
    # optimizer / scheduler / RNG states are torch pickles: accelerate's load_state reads them with
    # torch.load(weights_only=True), which refuses any object other than tensors and plain containers
    try:
        accelerator.load_state(str(checkpoints[-1]))
    except pickle.UnpicklingError as err:
        raise ValueError(
            f"checkpoint {checkpoints[-1]} holds a state file with objects other than tensors (not written by textae, "
            f"or altered); refused, nothing in it was run: {str(err).splitlines()[0]}"
        ) from None
    state = json.loads((checkpoints[-1] / STATE_FILE).read_text())
    logger.info("resumed from %s (step %d)", checkpoints[-1], state["step"])
    return Position(step=state["step"], batches_seen=state["batches_seen"])

