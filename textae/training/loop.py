"""The one training loop for every textae family, through ``accelerate``.

Gradient accumulation, clipping, AdamW + a transformers LR schedule, bf16 autocast, evaluation every
N steps, every scalar the model returns logged (console, jsonl, tensorboard), checkpoints named by
step (written to a temporary folder, then renamed, so a half-written one is never loaded), exact
resume (seedable batches, skipped batches, RNG states), and the final model saved with
``save_pretrained`` plus a model card. Runs the same under ``accelerate launch`` on several processes.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import math
import os
import pickle
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml
from accelerate import Accelerator, skip_first_batches
from datasets import ClassLabel
from accelerate.state import AcceleratorState, GradientState
from accelerate.utils import DataLoaderConfiguration, ProjectConfiguration, set_seed
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from transformers import get_scheduler

from ..data import LengthGroupedBatchSampler, SeededExamples, TextAECollator
from ..data.batching import PackedBatchSampler, TokenBudgetBatchSampler
from ..data.loading import column_array
from ..noise import NoisePipeline
from ..metrics.evaluation import TOKEN_UNIT, teacher_forced
from .build import build_datasets, build_model, build_tokenizer, label_maps, raw_split, text_column
from .model_card import write_model_card
from . import preemption
from .recipe import Recipe
from .run_folder import check_checkpoint_fits, open_run_folder
from .schedules import loss_weights_at
from .trackers import make_trackers

logger = logging.getLogger(__name__)

CHECKPOINT_PREFIX = "step_"
STATE_FILE = "trainer_state.json"
FAULT_ENV = "TEXTAE_FAULT_AT"


def _fault_point(name: str, step: int) -> None:
    """Test hook, used only by the fault-injection tests (tests/reliability/test_faults.py): when the
    environment variable ``TEXTAE_FAULT_AT`` is ``"{name}:{step}"`` the process kills itself with
    SIGKILL at this point (no cleanup, no flush), as a crash or a power cut would. Unset, as it always is
    outside those tests, it costs one environment lookup. The points, in the order a step meets them:
    batch, backward, optimizer, scheduler, step, log, eval, save_begin, save_state, save_state_file,
    save_renamed, save_pruned; then finish_begin, finish_model (after training)."""
    at = os.environ.get(FAULT_ENV)
    if at is not None and at == f"{name}:{step}":
        os.kill(os.getpid(), signal.SIGKILL)


@dataclass
class TrainResult:
    run_dir: Path
    model_dir: Path | None  # None when the run stopped early (stop_after_step)
    metrics: dict
    model: object = None  # the trained model, unwrapped


def complete_checkpoints(run_dir: Path) -> list[Path]:
    """Finished checkpoints, oldest first (a folder counts only once its state file is inside)."""
    folder = Path(run_dir) / "checkpoints"
    if not folder.exists():
        return []
    found = [p for p in folder.iterdir() if p.is_dir() and p.name.startswith(CHECKPOINT_PREFIX) and (p / STATE_FILE).exists()]
    return sorted(found, key=lambda p: int(p.name[len(CHECKPOINT_PREFIX) :]))


def _save_checkpoint(accelerator: Accelerator, run_dir: Path, step: int, batches_seen: int, keep: int) -> None:
    folder = run_dir / "checkpoints"
    final = folder / f"{CHECKPOINT_PREFIX}{step:08d}"
    tmp = folder / f".tmp_{CHECKPOINT_PREFIX}{step:08d}"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
    accelerator.wait_for_everyone()
    _fault_point("save_begin", step)
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()
    _fault_point("save_state", step)
    if accelerator.is_main_process:
        (tmp / STATE_FILE).write_text(json.dumps({"step": step, "batches_seen": batches_seen}))
        _fault_point("save_state_file", step)
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        _fault_point("save_renamed", step)
        for old in complete_checkpoints(run_dir)[:-keep] if keep > 0 else []:
            # the state file goes first: a crash inside rmtree leaves an incomplete folder, never a
            # "complete" one with its weights half deleted
            (old / STATE_FILE).unlink(missing_ok=True)
            shutil.rmtree(old, ignore_errors=True)
        _fault_point("save_pruned", step)
    accelerator.wait_for_everyone()


def _batch_seed(seed: int, batch_index: int, rank: int) -> int:
    return (seed * 1_000_003 + batch_index * 7_919 + rank * 104_729) % (2**63 - 1)


def _param_groups(model, weight_decay: float):
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if param.dim() < 2 or "norm" in name.lower() else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def make_optimizer(model, t) -> torch.optim.AdamW:
    """AdamW over the trainable parameters; ``train.adamw_impl`` picks torch's fused, foreach or
    single-tensor kernel ("auto": fused where torch has it for these parameters, else foreach)."""
    impl = t.adamw_impl
    if impl not in ("auto", "fused", "foreach", "single"):
        raise ValueError(f"train.adamw_impl must be 'auto', 'fused', 'foreach' or 'single', got {impl!r}")
    if impl == "auto":
        impl = "fused" if _fused_adamw_supported(model) else "foreach"
    kernels = {"fused": {"fused": True}, "foreach": {"foreach": True}, "single": {"foreach": False}}
    return torch.optim.AdamW(_param_groups(model, t.weight_decay), lr=t.learning_rate, betas=(0.9, t.adam_beta2), **kernels[impl])


def _fused_adamw_supported(model) -> bool:
    params = [p for p in model.parameters() if p.requires_grad]
    return bool(params) and all(p.dtype in (torch.float32, torch.bfloat16, torch.float16) and p.device.type in ("cpu", "cuda") for p in params)


def _step_items(accelerator, model, micro_batches) -> tuple[list[float], float]:
    """What each micro-batch's loss averages over (predicted tokens, or sentences) and the total over
    the whole step on every process."""
    unwrapped = accelerator.unwrap_model(model)
    counts = [float(unwrapped.loss_items(batch)) for batch in micro_batches]
    total = torch.tensor(sum(counts), dtype=torch.float64, device=accelerator.device)
    return counts, float(accelerator.reduce(total, reduction="sum"))


def _optimizer_step(accelerator, model, optimizer, scheduler, micro_batches, weights, position: Position, t):
    """Forward and backward of every micro-batch of one step, then clip and update (see
    :func:`accumulate_gradients` and :func:`_apply_gradients`). Returns the last micro-batch's output
    and the gradient norm."""
    out = accumulate_gradients(accelerator, model, micro_batches, weights, position, t.seed)
    return out, _apply_gradients(accelerator, model, optimizer, scheduler, t.max_grad_norm, position.step + 1)


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
        torch.manual_seed(_batch_seed(seed, position.batches_seen, accelerator.process_index))
        _fault_point("batch", position.step + 1)
        last = i == len(micro_batches) - 1
        with contextlib.nullcontext() if last else accelerator.no_sync(model):
            out = model(**batch, loss_weights=weights)
            accelerator.backward(out.loss * (counts[i] * accelerator.num_processes / max(total, 1.0)))
        _fault_point("backward", position.step + 1)
    return out


def _apply_gradients(accelerator, model, optimizer, scheduler, max_norm: float, step: int = 0) -> float:
    """Clips, and updates unless the gradient norm is not finite (then drops the gradients). Returns
    the norm, which is the same on every process. ``step`` (1-based) is for the fault hook only."""
    norm = float(accelerator.clip_grad_norm_(model.parameters(), max_norm if max_norm > 0 else float("inf")))
    if math.isfinite(norm):
        optimizer.step()
        _fault_point("optimizer", step)
        scheduler.step()
        _fault_point("scheduler", step)
    optimizer.zero_grad()
    return norm


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


def _scalars(out) -> dict[str, float]:
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


def prepare_data(recipe: Recipe):
    """Tokenizer, tokenized train / eval datasets and label names, as training and evaluation use them."""
    train_raw, eval_raw = raw_split(recipe, "train"), raw_split(recipe, "eval")
    tokenizer = build_tokenizer(recipe, train_raw)
    label2id = label_maps(recipe, train_raw)
    train_ds, eval_ds = build_datasets(recipe, tokenizer, train_raw, eval_raw, label2id)
    label_names = None
    if recipe.data.label_column is not None:
        feature = (train_raw.features or {}).get(recipe.data.label_column)
        label_names = list(feature.names) if isinstance(feature, ClassLabel) else list(label2id)
    return tokenizer, train_ds, eval_ds, eval_raw, label_names


def noise_pipeline(model, specs: list[dict] | None) -> NoisePipeline | None:
    """The corruption ``specs`` of ``model``'s input, with what token steps need from its tokenizer."""
    if not specs:
        return None
    c = model.config
    specials = sorted({i for i in (c.pad_token_id, c.unk_token_id, c.bos_token_id, c.eos_token_id, c.mask_token_id) if i is not None})
    return NoisePipeline(specs, mask_id=c.mask_token_id, vocab_size=c.vocab_size, special_ids=specials)


def make_collator(model, recipe: Recipe, packed: bool = False) -> TextAECollator:
    """The batch builder of ``model``; ``packed`` packs LM sentences into rows of ``train.pack_length``."""
    spec = model.batch_spec(recipe.train.loss_weights)
    return TextAECollator(
        model.config.pad_token_id,
        model.config.bos_token_id,
        model.config.eos_token_id,
        mode=spec.format,
        noise=noise_pipeline(model, spec.noise),
        tokenizer=model.tokenizer,
        max_length=recipe.data.max_seq_length,
        encoder_prefix=spec.encoder_prefix,
        encoder_suffix=spec.encoder_suffix,
        clean_inputs=spec.clean_inputs,
        extra_columns=spec.condition_keys if recipe.data.label_column else (),
        pad_to_multiple_of=recipe.train.pad_to_multiple_of,
        seed=recipe.train.seed,
        pack_length=recipe.train.pack_length if packed else None,
    )


def _check_batching(recipe: Recipe, model) -> bool:
    """Refuses batching settings that cannot go together; returns whether LM rows are packed."""
    t = recipe.train
    chosen = [name for name, on in (("train.pack_length", t.pack_length), ("train.max_tokens_per_batch", t.max_tokens_per_batch), ("train.group_by_length", t.group_by_length)) if on]
    if len(chosen) > 1:
        raise ValueError(f"{' and '.join(chosen)} are different ways to batch; set one of them")
    if chosen and recipe.data.streaming:
        raise ValueError(f"{chosen[0]} needs the sentence lengths in advance; it does not work with data.streaming")
    if t.pack_length:
        if model.batch_format != "lm":
            raise ValueError(f"train.pack_length packs LM sentences into rows; the {recipe.model['family']!r} family's encoder reads one sentence a row (use train.max_tokens_per_batch)")
        if t.pack_length < recipe.data.max_seq_length + 2:
            raise ValueError(f"train.pack_length ({t.pack_length}) must hold the longest sentence with BOS and EOS: at least data.max_seq_length + 2 = {recipe.data.max_seq_length + 2}")
    return bool(t.pack_length)


def _batch_sampler(lengths, collator, recipe: Recipe, seeded: bool):
    """Random batches by default; packed LM rows, token budgets or length grouping when asked."""
    t = recipe.train
    if t.pack_length:
        return PackedBatchSampler(lengths, t.batch_size, t.pack_length, seed=t.seed, with_epoch=seeded)
    if t.max_tokens_per_batch:
        return TokenBudgetBatchSampler(lengths, t.max_tokens_per_batch, overhead=collator.overhead, seed=t.seed, with_epoch=seeded)
    grouping = t.megabatch_mult if t.group_by_length else 1
    return LengthGroupedBatchSampler(lengths, t.batch_size, seed=t.seed, shuffle=True, megabatch_mult=grouping, with_epoch=seeded)


def _train_loader(train_ds, collator, recipe: Recipe):
    t = recipe.train
    if recipe.data.streaming:
        return DataLoader(train_ds.with_format(None), batch_size=t.batch_size, collate_fn=collator), None
    if len(train_ds) == 0:
        raise ValueError("the training set is empty (after dropping empty texts)")
    seeded = collator.noise is not None  # each example's corruption seeded by (seed, epoch, index)
    sampler = _batch_sampler(column_array(train_ds, "length"), collator, recipe, seeded)
    dataset = SeededExamples(train_ds, t.seed) if seeded else train_ds
    return DataLoader(dataset, batch_sampler=sampler, collate_fn=collator, num_workers=t.dataloader_workers), sampler


def eval_loader(eval_ds, collator, recipe: Recipe):
    if recipe.data.streaming:
        return DataLoader(eval_ds.with_format(None), batch_size=recipe.train.eval_batch_size, collate_fn=collator)
    if len(eval_ds) == 0:
        raise ValueError("the evaluation set is empty (after dropping empty texts); check data.eval_files / data.eval_split")
    seeded = collator.noise is not None  # the same corruption at every evaluation
    order = LengthGroupedBatchSampler(column_array(eval_ds, "length"), recipe.train.eval_batch_size, shuffle=False, with_epoch=seeded)
    return DataLoader(SeededExamples(eval_ds, recipe.train.seed) if seeded else eval_ds, batch_sampler=order, collate_fn=collator)


def _make_accelerator(t, run_dir: Path) -> Accelerator:
    # a second run in the same process (a notebook, the tests) may change mixed precision; the process
    # group itself (PartialState) is kept
    AcceleratorState._reset_state()
    GradientState._reset_state()
    return Accelerator(
        # the loop accumulates itself: it normalises each step's loss by the items of the whole step
        gradient_accumulation_steps=1,
        mixed_precision="bf16" if t.bf16 else "no",
        dynamo_backend="inductor" if t.compile else "no",
        log_with=make_trackers(t.trackers, run_dir),
        project_config=ProjectConfiguration(project_dir=str(run_dir), logging_dir=str(run_dir / "logs")),
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True),
        cpu=t.cpu,
    )


@dataclass
class Position:
    """Where training stands: optimizer steps taken and micro-batches read (what resume restores)."""

    step: int = 0
    batches_seen: int = 0


def _resume_position(accelerator: Accelerator, run_dir: Path, resume: bool, model=None) -> Position:
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


def _epoch_at(train_dl, sampler, batches_seen: int) -> tuple[int, int]:
    """The epoch that holds micro-batch number ``batches_seen`` (0-based) and how many batches of it
    come before; epochs may differ in length (token budgets, packed rows)."""
    epoch, start = 0, 0
    while True:
        sampler.set_epoch(epoch)
        train_dl.set_epoch(epoch)
        size = len(train_dl)
        if size == 0:
            raise ValueError("the training data yielded no batch")
        if batches_seen < start + size:
            return epoch, batches_seen - start
        epoch, start = epoch + 1, start + size


def _batches(train_dl, sampler, position: Position):
    """Endless micro-batches in the exact order an uninterrupted run reads them, from ``position`` on:
    the epoch's seeded order, less the batches of that epoch already read."""
    if sampler is None:  # a stream repeats its passes in one order: resume reads past the batches used
        yield from itertools.islice(_stream_passes(train_dl), position.batches_seen, None)
        return
    epoch, skip = _epoch_at(train_dl, sampler, position.batches_seen)
    while True:
        # accelerate's loader sets its sampler's epoch to its own count of passes at every pass (and
        # skip_first_batches copies that count), which restarts at 0 in a resumed process: without
        # this, a run resumed in epoch e > 0 replayed epoch 0's batch order
        sampler.set_epoch(epoch)
        train_dl.set_epoch(epoch)
        yield from skip_first_batches(train_dl, skip) if skip else train_dl
        epoch, skip = epoch + 1, 0


def _step_batches(batches, accumulation: int):
    """Groups micro-batches into the lists that make one optimizer step each."""
    while True:
        group = list(itertools.islice(batches, accumulation))
        if not group:
            return
        yield group


def _stream_passes(train_dl):
    while True:
        empty = True
        for batch in train_dl:
            empty = False
            yield batch
        if empty:
            raise ValueError("the training data yielded no batch")


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


def train(recipe: Recipe, resume: bool = False, stop_after_step: int | None = None, overwrite: bool = False) -> TrainResult:
    """Trains ``recipe`` end to end; with ``resume``, continues exactly from the newest complete checkpoint.

    A folder that already holds checkpoints or a model is refused unless ``resume`` continues it or
    ``overwrite`` replaces it (see :mod:`textae.training.run_folder`); the folder is locked for the run.
    SIGTERM / SIGINT stop after the current step with a checkpoint (:class:`TrainingPreempted`).
    ``stop_after_step`` ends the run after that step as an interruption would (no final model), so a
    time-boxed run can be resumed later with the same schedule.
    """
    with open_run_folder(recipe, resume=resume, overwrite=overwrite), preemption.handlers(), _determinism(recipe.train.full_determinism):
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


def _train(recipe: Recipe, resume: bool, stop_after_step: int | None) -> TrainResult:
    t = recipe.train
    run_dir = Path(t.output_dir)
    accelerator = _make_accelerator(t, run_dir)
    set_seed(t.seed)

    tokenizer, train_ds, eval_ds, eval_raw, label_names = prepare_data(recipe)
    model = build_model(recipe, tokenizer, label_names)
    if t.gradient_checkpointing:
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    packed = _check_batching(recipe, model)
    train_dl, sampler = _train_loader(train_ds, make_collator(model, recipe, packed=packed), recipe)
    eval_dl = eval_loader(eval_ds, make_collator(model, recipe), recipe)
    optimizer = make_optimizer(model, t)
    scheduler = get_scheduler(t.lr_scheduler, optimizer, num_warmup_steps=t.warmup_steps, num_training_steps=t.max_steps)
    model, optimizer, train_dl, eval_dl, scheduler = accelerator.prepare(model, optimizer, train_dl, eval_dl, scheduler)
    position = _resume_position(accelerator, run_dir, resume, model)

    if accelerator.is_main_process:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "recipe.yaml").write_text(yaml.safe_dump(recipe.to_dict(), sort_keys=False))
    accelerator.init_trackers("textae", config=_flat_config(recipe))
    unwrapped = accelerator.unwrap_model(model)
    n_params = sum(p.numel() for p in unwrapped.parameters())
    sentences = "streaming" if recipe.data.streaming else len(train_ds)
    accelerator.print(f"textae: {type(unwrapped).__name__} with {n_params / 1e6:.2f}M parameters; {sentences} training sentences")

    history: list[dict] = []
    meter, nonfinite, speed = Meter(), NonFiniteGuard(t.max_nonfinite_steps), Throughput(accelerator.num_processes)
    start_step = position.step
    model.train()
    # off a terminal (CI, log files) redraw rarely instead of flooding the log
    bar = tqdm(total=t.max_steps, initial=position.step, disable=not accelerator.is_local_main_process, desc="train", mininterval=0.1 if sys.stderr.isatty() else 30)
    preemption.arm()
    for micro_batches in _step_batches(_batches(train_dl, sampler, position), t.gradient_accumulation_steps):
        if position.step >= t.max_steps or position.step == stop_after_step:
            break
        weights = loss_weights_at(t.loss_weights, position.step, t.max_steps)
        out, grad_norm = _optimizer_step(accelerator, model, optimizer, scheduler, micro_batches, weights, position, t)
        for batch in micro_batches:
            speed.add(batch)
        if not math.isfinite(grad_norm):
            nonfinite.record(position.step, accelerator, run_dir)
            continue
        meter.add({**_scalars(out), **{f"weight_{k}": v for k, v in weights.items()}, "grad_norm": grad_norm})
        nonfinite.in_a_row = 0
        position.step += 1
        bar.update(1)
        _fault_point("step", position.step)
        _after_step(accelerator, t, position, run_dir, model, eval_dl, meter, speed, scheduler, history, bar)
        if preemption.requested(accelerator):
            _stop_preempted(accelerator, t, position, run_dir, bar)
    bar.close()
    if position.step == stop_after_step and stop_after_step < t.max_steps:
        _end_run(accelerator)
        return TrainResult(run_dir=run_dir, model_dir=None, metrics={}, model=unwrapped)
    # skipped updates (non-finite loss or gradient) of this process's run, beside its speed
    summary = {**speed.summary(position.step - start_step), "skipped_nonfinite_updates": nonfinite.total}
    return _finish(accelerator, model, recipe, run_dir, eval_dl, eval_raw, history, summary)


def _after_step(accelerator, t, position: Position, run_dir: Path, model, eval_dl, meter, speed, scheduler, history, bar) -> None:
    """Logging, evaluation and checkpoints due at ``position.step``."""
    step, last = position.step, position.step == t.max_steps
    if step % t.log_every == 0 or last:
        logged = {**meter.pop(), "lr": scheduler.get_last_lr()[0], "tokens_per_second": speed.pop_rate()}
        accelerator.log({f"train/{k}": v for k, v in logged.items()}, step=step)
        bar.set_postfix(loss=f"{logged.get('loss', float('nan')):.4f}")
        history.append({"step": step, **logged})
        _fault_point("log", step)
    if t.eval_every > 0 and (step % t.eval_every == 0 or last):
        with speed.paused():
            metrics = teacher_forced(model, eval_dl, accelerator, t.eval_max_batches)
        # the training clock at this point: time-to-quality curves read it
        accelerator.log({f"eval/{k}": v for k, v in metrics.items()} | {"eval/train_seconds": speed.train_seconds()}, step=step)
        accelerator.print(f"step {step}: eval " + " ".join(f"{k}={v:.4f}" for k, v in metrics.items() if isinstance(v, float)))
        _fault_point("eval", step)
    if t.save_every > 0 and (step % t.save_every == 0 or last):
        with speed.paused():
            _save_checkpoint(accelerator, run_dir, step, position.batches_seen, t.keep_checkpoints)


def _stop_preempted(accelerator, t, position: Position, run_dir: Path, bar) -> None:
    """A signal asked training to stop: the step is done; checkpoint it (unless just saved) and stop."""
    bar.close()
    newest = complete_checkpoints(run_dir)
    if not newest or newest[-1].name != f"{CHECKPOINT_PREFIX}{position.step:08d}":
        _save_checkpoint(accelerator, run_dir, position.step, position.batches_seen, t.keep_checkpoints)
    _end_run(accelerator)
    raise preemption.TrainingPreempted(preemption.requested(), position.step, complete_checkpoints(run_dir)[-1])


def _finish(accelerator, model, recipe: Recipe, run_dir: Path, eval_dl, eval_raw, history, throughput) -> TrainResult:
    t = recipe.train
    _fault_point("finish_begin", t.max_steps)
    metrics = {"eval": teacher_forced(model, eval_dl, accelerator, t.eval_max_batches), "token_unit": TOKEN_UNIT, "throughput": throughput}
    unwrapped = accelerator.unwrap_model(model)
    model_dir = run_dir / "model"
    if accelerator.is_main_process:
        texts = _first_texts(eval_raw, text_column(recipe), 500)
        metrics.update(
            unwrapped.evaluation_report(
                eval_dl, texts, metrics["eval"], eval_data=eval_raw, max_batches=t.eval_max_batches,
                iw_samples=t.iw_samples, batch_size=t.eval_batch_size, examples=t.show_reconstructions,
            )
        )
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        unwrapped.save_pretrained(model_dir)
        _fault_point("finish_model", t.max_steps)
        metrics["train_history_tail"] = history[-3:]
        (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
        write_model_card(model_dir, recipe, metrics, type(unwrapped).__name__)
        accelerator.print("\n".join(unwrapped.report_lines(metrics)))
        from .plots import write_run_plots

        column = recipe.data.text_column if isinstance(recipe.data.text_column, str) else "text"
        plots = write_run_plots(run_dir, unwrapped, metrics, eval_raw, column, recipe.data.label_column)
        if plots:
            accelerator.print("plots: " + ", ".join(str(p) for p in plots.values()))
    accelerator.wait_for_everyone()
    _end_run(accelerator)
    return TrainResult(run_dir=run_dir, model_dir=model_dir, metrics=metrics, model=unwrapped)


def _end_run(accelerator) -> None:
    """Stops the trackers. Unlike ``end_training`` it keeps the process group of a multi-process run,
    which a further ``train`` in the same process needs; the CLI destroys it before exiting."""
    for tracker in accelerator.trackers:
        tracker.finish()


def _first_texts(ds, column: str, n: int) -> list[str]:
    texts = (row[column] for row in ds)
    return list(itertools.islice((x.strip() for x in texts if isinstance(x, str) and x.strip()), n))


def _flat_config(recipe: Recipe) -> dict:
    flat = {}
    for section, values in recipe.to_dict().items():
        for k, v in values.items():
            flat[f"{section}.{k}"] = v if isinstance(v, (int, float, str, bool)) else json.dumps(v, default=str)
    return flat
