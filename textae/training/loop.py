"""The one training loop for every textae family, through ``accelerate``.

Gradient accumulation (each step's loss normalised by the items of the whole step), clipping, AdamW +
a transformers LR schedule, bf16 autocast, evaluation every N steps, every scalar the model returns
logged (console, jsonl, tensorboard), checkpoints named by step and exact resume
(:mod:`~textae.training.checkpoints`, :mod:`~textae.training.batch_order`), and the final model saved
with ``save_pretrained`` plus its report (:mod:`~textae.training.report`). Data, collators and
loaders come from :mod:`~textae.training.build`. Runs the same under ``accelerate launch`` on several
processes.
"""

from __future__ import annotations

import contextlib
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch
import yaml
from accelerate import Accelerator
from accelerate.state import AcceleratorState, GradientState
from accelerate.utils import DataLoaderConfiguration, ProjectConfiguration, set_seed
from tqdm.auto import tqdm
from transformers import get_scheduler

from . import events, preemption
from .batch_order import batch_seed, micro_batches, step_batches
from .build import build_model, check_batching, eval_loader, make_collator, prepare_data, train_loader
from .checkpoints import CHECKPOINT_PREFIX, STATE_FILE, Position, complete_checkpoints, resume_position, save_checkpoint
from .events import EventCallback
from .monitoring import Meter, NonFiniteGuard, NonFiniteLossError, Throughput, scalars
from .optim import make_optimizer
from .precision import resolve_bf16, warn_if_bf16_is_emulated
from .recipe import Recipe
from .report import final_metrics, write_run_report
from .run_folder import open_run_folder
from .schedules import loss_weights_at
from .trackers import flat_config, make_trackers
from ..metrics.evaluation import teacher_forced

__all__ = [  # what other modules and the tests import from here
    "CHECKPOINT_PREFIX", "STATE_FILE", "NonFiniteLossError", "Position", "TrainResult", "accumulate_gradients",
    "complete_checkpoints", "eval_loader", "make_collator", "make_optimizer", "prepare_data", "train", "train_loader",
]


@dataclass
class TrainResult:
    run_dir: Path
    model_dir: Path | None  # None when the run stopped early (stop_after_step)
    metrics: dict
    model: object = None  # the trained model, unwrapped



@dataclass
class RunState:
    """What one run carries from step to step."""

    accelerator: Accelerator
    recipe: Recipe
    run_dir: Path
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: object
    eval_dl: object
    position: Position
    meter: Meter = field(default_factory=Meter)
    history: list = field(default_factory=list)
    speed: Throughput | None = None
    bar: tqdm | None = None

    @property
    def t(self):
        return self.recipe.train

    def checkpoint(self) -> None:
        with self.speed.paused():
            save_checkpoint(self.accelerator, self.run_dir, self.position.step, self.position.batches_seen, self.t.keep_checkpoints)


def _step_items(accelerator, model, micro_batches) -> tuple[list[float], float]:
    """What each micro-batch's loss averages over (predicted tokens, or sentences) and the total over
    the whole step on every process."""
    unwrapped = accelerator.unwrap_model(model)
    counts = [float(unwrapped.loss_items(batch)) for batch in micro_batches]
    total = torch.tensor(sum(counts), dtype=torch.float64, device=accelerator.device)
    return counts, float(accelerator.reduce(total, reduction="sum"))


def accumulate_gradients(accelerator, model, micro_batches, weights, position: Position, seed: int):
    """Backward of each micro-batch's loss, scaled by its share of the step's items (``n_i · P / N``:
    P processes, N items over all of them). After DDP's mean over processes the gradient is that of
    the summed loss ÷ N, what one batch holding every micro-batch gives, whatever their lengths.
    Only the last micro-batch synchronises the processes. Returns the last micro-batch's output."""
    counts, total = _step_items(accelerator, model, micro_batches)
    for i, batch in enumerate(micro_batches):
        position.batches_seen += 1
        # dropout's randomness is a pure function of (seed, batch, rank), so a resumed run draws exactly
        # what the uninterrupted run drew, whatever else consumed the global RNG in between
        torch.manual_seed(batch_seed(seed, position.batches_seen, accelerator.process_index))
        events.emit("batch", position.step + 1)
        last = i == len(micro_batches) - 1
        with contextlib.nullcontext() if last else accelerator.no_sync(model):
            out = model(**batch, loss_weights=weights)
            accelerator.backward(out.loss * (counts[i] * accelerator.num_processes / max(total, 1.0)))
        events.emit("backward", position.step + 1)
    return out



def _apply_gradients(accelerator, model, optimizer, scheduler, max_norm: float, step: int = 0) -> float:
    """Clips, and updates unless the gradient norm is not finite (then drops the gradients). Returns
    the norm, which is the same on every process. ``step`` (1-based) is for the fault hook only."""
    norm = float(accelerator.clip_grad_norm_(model.parameters(), max_norm if max_norm > 0 else float("inf")))
    if math.isfinite(norm):
        optimizer.step()
        events.emit("optimizer", step)
        scheduler.step()
        events.emit("scheduler", step)
    optimizer.zero_grad()
    return norm



def _make_accelerator(t, run_dir: Path) -> Accelerator:
    # a second run in the same process (a notebook, the tests) may change mixed precision; the process
    # group itself (PartialState) is kept
    AcceleratorState._reset_state()
    GradientState._reset_state()
    bf16 = resolve_bf16(t.bf16, on_cpu=t.cpu)
    warn_if_bf16_is_emulated(bf16, on_cpu=t.cpu)
    return Accelerator(
        # the loop accumulates itself: it normalises each step's loss by the items of the whole step
        gradient_accumulation_steps=1,
        mixed_precision="bf16" if bf16 else "no",
        dynamo_backend="inductor" if t.compile else "no",
        log_with=make_trackers(t.trackers, run_dir),
        project_config=ProjectConfiguration(project_dir=str(run_dir), logging_dir=str(run_dir / "logs")),
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True),
        cpu=t.cpu,
    )



def train(recipe: Recipe, resume: bool = False, stop_after_step: int | None = None, overwrite: bool = False, on_event: EventCallback | None = None) -> TrainResult:
    """Trains ``recipe`` end to end; with ``resume``, continues exactly from the newest complete checkpoint.

    A folder that already holds checkpoints or a model is refused unless ``resume`` continues it or
    ``overwrite`` replaces it (see :mod:`textae.training.run_folder`); the folder is locked for the run.
    SIGTERM / SIGINT stop after the current step with a checkpoint (:class:`TrainingPreempted`).
    ``stop_after_step`` ends the run after that step as an interruption would (no final model), so a
    time-boxed run can be resumed later with the same schedule. ``on_event(name, step)`` is called at
    each point of :mod:`textae.training.events`.
    """
    folder = open_run_folder(recipe, resume=resume, overwrite=overwrite)
    with folder, preemption.handlers(), _determinism(recipe.train.full_determinism), events.observed_by(on_event):
        return _train(recipe, resume, stop_after_step)


@contextlib.contextmanager
def _determinism(on: bool):
    """Deterministic kernels for the run only (a setting for the process, so the old one comes back)."""
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(on or before)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before)



def _setup(recipe: Recipe, resume: bool) -> tuple[RunState, object, object, object]:
    """Accelerator, data, model, optimizer and schedule, prepared and resumed; the train loader,
    its sampler and the raw eval split besides."""
    t = recipe.train
    run_dir = Path(t.output_dir)
    accelerator = _make_accelerator(t, run_dir)
    set_seed(t.seed)
    tokenizer, train_ds, eval_ds, eval_raw, label_names = prepare_data(recipe)
    model = build_model(recipe, tokenizer, label_names)
    if t.gradient_checkpointing:
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    packed = check_batching(recipe, model)
    train_dl, sampler = train_loader(train_ds, make_collator(model, recipe, packed=packed), recipe)
    eval_dl = eval_loader(eval_ds, make_collator(model, recipe), recipe)
    optimizer = make_optimizer(model, t)
    scheduler = get_scheduler(t.lr_scheduler, optimizer, num_warmup_steps=t.warmup_steps, num_training_steps=t.max_steps)
    model, optimizer, train_dl, eval_dl, scheduler = accelerator.prepare(model, optimizer, train_dl, eval_dl, scheduler)
    position = resume_position(accelerator, run_dir, resume, model)
    if accelerator.is_main_process:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "recipe.yaml").write_text(yaml.safe_dump(recipe.to_dict(), sort_keys=False))
    accelerator.init_trackers("textae", config=flat_config(recipe))
    unwrapped = accelerator.unwrap_model(model)
    n_params = sum(p.numel() for p in unwrapped.parameters())
    sentences = "streaming" if recipe.data.streaming else len(train_ds)
    accelerator.print(f"textae: {type(unwrapped).__name__} with {n_params / 1e6:.2f}M parameters; {sentences} training sentences")
    run = RunState(accelerator, recipe, run_dir, model, optimizer, scheduler, eval_dl, position, speed=Throughput(accelerator.num_processes))
    return run, train_dl, sampler, eval_raw


def _train(recipe: Recipe, resume: bool, stop_after_step: int | None) -> TrainResult:
    run, train_dl, sampler, eval_raw = _setup(recipe, resume)
    t, accelerator, position = recipe.train, run.accelerator, run.position
    nonfinite, start_step = NonFiniteGuard(t.max_nonfinite_steps), position.step
    run.model.train()
    # off a terminal (CI, log files) redraw rarely instead of flooding the log
    run.bar = tqdm(total=t.max_steps, initial=position.step, disable=not accelerator.is_local_main_process, desc="train", mininterval=0.1 if sys.stderr.isatty() else 30)
    preemption.arm()
    for group in step_batches(micro_batches(train_dl, sampler, position), t.gradient_accumulation_steps):
        if position.step >= t.max_steps or position.step == stop_after_step:
            break
        weights = loss_weights_at(t.loss_weights, position.step, t.max_steps)
        out = accumulate_gradients(accelerator, run.model, group, weights, position, t.seed)
        grad_norm = _apply_gradients(accelerator, run.model, run.optimizer, run.scheduler, t.max_grad_norm, position.step + 1)
        for batch in group:
            run.speed.add(batch)
        if not math.isfinite(grad_norm):
            nonfinite.record(position.step, accelerator, run.run_dir)
            continue
        run.meter.add({**scalars(out), **{f"weight_{k}": v for k, v in weights.items()}, "grad_norm": grad_norm})
        nonfinite.in_a_row = 0
        position.step += 1
        run.bar.update(1)
        events.emit("step", position.step)
        _after_step(run)
        if preemption.requested(accelerator):
            _stop_preempted(run)
    run.bar.close()
    if position.step == stop_after_step and stop_after_step < t.max_steps:
        _end_run(accelerator)
        return TrainResult(run_dir=run.run_dir, model_dir=None, metrics={}, model=accelerator.unwrap_model(run.model))
    # skipped updates (non-finite loss or gradient) of this process's run, beside its speed
    summary = {**run.speed.summary(position.step - start_step), "skipped_nonfinite_updates": nonfinite.total, "mixed_precision": accelerator.mixed_precision}
    return _finish(run, eval_raw, summary)


def _after_step(run: RunState) -> None:
    """Logging, evaluation and checkpoints due at the step just taken."""
    t, accelerator = run.t, run.accelerator
    step, last = run.position.step, run.position.step == t.max_steps
    if step % t.log_every == 0 or last:
        logged = {**run.meter.pop(), "lr": run.scheduler.get_last_lr()[0], "tokens_per_second": run.speed.pop_rate()}
        accelerator.log({f"train/{k}": v for k, v in logged.items()}, step=step)
        run.bar.set_postfix(loss=f"{logged.get('loss', float('nan')):.4f}")
        run.history.append({"step": step, **logged})
        events.emit("log", step)
    if t.eval_every > 0 and (step % t.eval_every == 0 or last):
        with run.speed.paused():
            metrics = teacher_forced(run.model, run.eval_dl, accelerator, t.eval_max_batches)
        # the training clock at this point: time-to-quality curves read it
        accelerator.log({f"eval/{k}": v for k, v in metrics.items()} | {"eval/train_seconds": run.speed.train_seconds()}, step=step)
        accelerator.print(f"step {step}: eval " + " ".join(f"{k}={v:.4f}" for k, v in metrics.items() if isinstance(v, float)))
        events.emit("eval", step)
    if t.save_every > 0 and (step % t.save_every == 0 or last):
        run.checkpoint()


def _stop_preempted(run: RunState) -> None:
    """A signal asked training to stop: the step is done; checkpoint it (unless just saved) and stop."""
    run.bar.close()
    newest = complete_checkpoints(run.run_dir)
    if not newest or newest[-1].name != f"{CHECKPOINT_PREFIX}{run.position.step:08d}":
        run.checkpoint()
    _end_run(run.accelerator)
    raise preemption.TrainingPreempted(preemption.requested(), run.position.step, complete_checkpoints(run.run_dir)[-1])


def _finish(run: RunState, eval_raw, throughput: dict) -> TrainResult:
    accelerator, t = run.accelerator, run.t
    events.emit("finish_begin", t.max_steps)
    metrics = final_metrics(accelerator, run.model, run.recipe, run.eval_dl, eval_raw, throughput)
    unwrapped = accelerator.unwrap_model(run.model)
    model_dir = run.run_dir / "model"
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        unwrapped.save_pretrained(model_dir)
        events.emit("finish_model", t.max_steps)
        metrics["train_history_tail"] = run.history[-3:]
        write_run_report(run.run_dir, model_dir, unwrapped, run.recipe, metrics, eval_raw, accelerator.print)
    accelerator.wait_for_everyone()
    _end_run(accelerator)
    return TrainResult(run_dir=run.run_dir, model_dir=model_dir, metrics=metrics, model=unwrapped)


def _end_run(accelerator) -> None:
    """Stops the trackers. Unlike ``end_training`` it keeps the process group of a multi-process run,
    which a further ``train`` in the same process needs; the CLI destroys it before exiting."""
    for tracker in accelerator.trackers:
        tracker.finish()


