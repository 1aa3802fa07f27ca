"""Recipes: one YAML file → typed settings, every default documented in one place.

A recipe has three sections, ``model``, ``data`` and ``train``. ``model`` holds ``family`` plus any
field of that family's config class (and the local pretrained paths); ``data`` and ``train`` are the
dataclasses below. An unknown key, or a value of the wrong type, is an error that names it.
Overrides on the command line use dotted keys: ``train.max_steps=200 model.latent_dim=32``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Literal
from dataclasses import dataclass, field
from pathlib import Path

import yaml


class RecipeError(ValueError):
    """A recipe key, type or file is wrong; the message names it."""


@dataclass
class DataSection:
    source: str = "synthetic"  # "synthetic", "files", or a hub dataset name (needs its local cache)
    dataset_config: str | None = None  # hub dataset configuration name
    train_split: str = "train"
    eval_split: str = "validation"
    # source "files": txt / csv / tsv / json / jsonl / parquet; or per label {name: [files]} (one file per
    # label, e.g. SST-2's train.0.txt / train.1.txt): rows get the label name in data.label_column
    train_files: list[str] | dict[str, list[str]] | None = None
    eval_files: list[str] | dict[str, list[str]] | None = None
    text_column: str | list[str] = "text"  # several columns: each non-empty value is one sentence
    label_column: str | None = None
    streaming: bool = False  # iterate without loading the corpus (needs an existing tokenizer)
    synthetic_train_size: int = 20000
    synthetic_eval_size: int = 1000
    synthetic_seed: int = 0
    max_train_examples: int | None = None
    max_eval_examples: int | None = None
    tokenizer: str = "wordlevel"  # "wordlevel" / "wordpiece" / "bpe" (trained on train), or a local folder
    # the decoder's own tokenizer (a local folder or an installed model package); None: the same as tokenizer
    decoder_tokenizer: str | None = None
    vocab_size: int = 10000
    lowercase: bool = False
    fold_confusables: bool = False  # NFKC + Cyrillic/Greek look-alikes → Latin + no zero-width chars, in the tokenizer
    # English: the encoder's input text goes through textae.data.spelling.SpellingCorrector after the
    # noise (fold look-alikes, correct spelling), as it will at inference with --correct-spelling
    correct_spelling: bool = False
    max_seq_length: int = 64


@dataclass
class ScheduleSpec:
    """A step-dependent weight; see :mod:`textae.training.schedules` for the kinds and their options."""

    kind: str = "constant"
    value: float = 1.0  # the final (or constant) value
    start: float = 0.0  # the starting value for warm-ups
    warmup_steps: int = 0
    cycles: int = 4  # cyclical: number of cycles over total_steps
    ratio_increase: float = 0.5  # cyclical: share of each cycle spent rising
    ratio_zero: float = 0.0  # cyclical: share of each cycle held at ``start``
    total_steps: int | None = None  # cyclical: defaults to train.max_steps


@dataclass
class TrainSection:
    output_dir: str = "runs/textae"
    seed: int = 0
    max_steps: int = 1000
    batch_size: int = 64  # per process
    eval_batch_size: int = 128
    gradient_accumulation_steps: int = 1
    learning_rate: float = 1e-3
    # the learning rate of the parameters no pretrained checkpoint initialised (latent heads, injections,
    # new cross-attention, label embeddings) when backbones are pretrained; None: learning_rate for all
    new_learning_rate: float | None = None
    weight_decay: float = 0.01
    adam_beta2: float = 0.999
    lr_scheduler: str = "cosine"  # any transformers scheduler name (linear, cosine, constant_with_warmup, ...)
    warmup_steps: int = 100
    max_grad_norm: float = 1.0
    max_nonfinite_steps: int = 5  # updates skipped in a row for a NaN / inf loss or gradient before training stops
    bf16: bool | Literal["auto"] = False  # bf16 autocast (CPU and GPU); "auto": where the hardware computes bf16
    cpu: bool = False  # train on the CPU even when a GPU is present (needed for multi-process CPU runs)
    # batching: random batches of batch_size by default (an unbiased gradient); or one of
    group_by_length: bool = False  # length-sorted mega-batches (less padding, a length-biased gradient)
    megabatch_mult: int = 50  # with group_by_length: batches per sorted mega-batch (1 = random batches)
    max_tokens_per_batch: int | None = None  # random batches of at most this many padded tokens
    pack_length: int | None = None  # LM family: batch_size rows of this many tokens, sentences packed
    compile: bool = False  # torch.compile the model (inductor)
    adamw_impl: str = "auto"  # "auto" (fused where torch has it), "fused", "foreach", "single"
    gradient_checkpointing: bool = False  # recompute the backbones' activations in backward (less memory)
    # torch.use_deterministic_algorithms for the run: compiled CPU kernels sum some gradients (the
    # embedding's) with atomic adds across threads, so two compiled runs differ by ~1e-7 without it
    full_determinism: bool = False
    pad_to_multiple_of: int = 8  # batch widths rounded up: few distinct shapes run faster
    eval_every: int = 500
    save_every: int = 500
    log_every: int = 50
    keep_checkpoints: int = 2
    eval_max_batches: int | None = None
    iw_samples: int = 20  # importance samples for the VAE's IW-NLL at the end of training
    show_reconstructions: int = 5  # printed at the end of training
    trackers: list[str] = field(default_factory=lambda: ["jsonl"])  # "jsonl", "tensorboard"
    loss_weights: dict[str, ScheduleSpec] = field(default_factory=dict)  # loss term → schedule
    dataloader_workers: int = 0


MODEL_EXTRA_KEYS = {"family": str, "encoder_pretrained": (str, type(None)), "decoder_pretrained": (str, type(None))}


@dataclass
class Recipe:
    model: dict
    data: DataSection
    train: TrainSection
    source: str | None = None  # the file it came from

    def to_dict(self) -> dict:
        return {"model": dict(self.model), "data": dataclasses.asdict(self.data), "train": dataclasses.asdict(self.train)}


def _type_ok(value, annotation) -> bool:
    origin = typing.get_origin(annotation)
    if annotation is typing.Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, a) for a in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if origin is typing.Literal:
        return value in typing.get_args(annotation)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin is list:
        (inner,) = typing.get_args(annotation)
        return isinstance(value, list) and all(_type_ok(v, inner) for v in value)
    if origin is dict:
        return isinstance(value, dict)
    if isinstance(annotation, type):
        return isinstance(value, annotation)
    return True


def _type_name(annotation) -> str:
    """A setting's type as a user reads it: ``int``, ``bool or 'auto'``, ``list[str]``."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(annotation))
    if origin is typing.Literal:
        return " or ".join(repr(v) for v in typing.get_args(annotation))
    if annotation is type(None):
        return "null"
    if isinstance(annotation, type) and origin is None:
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def _accepts_float(annotation) -> bool:
    return annotation is float or float in typing.get_args(annotation)


def _as_float(value):
    """YAML 1.1 reads 1e-3 as a string and 3 as an int; a float setting takes both."""
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _build_section(cls, values: dict, where: str):
    if not isinstance(values, dict):
        raise RecipeError(f"{where} must be a mapping, got {type(values).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise RecipeError(f"unknown key {where}.{unknown[0]}; known keys: {sorted(names)}")
    kwargs = {}
    for name, value in values.items():
        annotation = hints[name]
        if name == "loss_weights":
            value = {term: _build_section(ScheduleSpec, spec, f"{where}.loss_weights.{term}") for term, spec in (value or {}).items()}
        elif name in ("train_files", "eval_files") and isinstance(value, str):
            value = [value]
        elif name in ("train_files", "eval_files") and isinstance(value, dict):
            value = {str(label): [paths] if isinstance(paths, str) else paths for label, paths in value.items()}
            bad = [label for label, paths in value.items() if not (isinstance(paths, list) and paths and all(isinstance(x, str) for x in paths))]
            if bad:
                raise RecipeError(f"{where}.{name}: label {bad[0]!r} must map to a file path or a list of them")
        elif _accepts_float(annotation):
            value = _as_float(value)
        if not isinstance(value, ScheduleSpec) and name != "loss_weights" and not _type_ok(value, annotation):
            raise RecipeError(f"{where}.{name} must be {_type_name(annotation)}, got {value!r} ({type(value).__name__})")
        kwargs[name] = value
    return cls(**kwargs)


def _check_model_section(model: dict) -> dict:
    from ..models import family_classes

    if "family" not in model:
        raise RecipeError("model.family is required (e.g. ae, lm)")
    try:
        config_cls, _ = family_classes(model["family"])
    except ValueError as err:
        raise RecipeError(f"model.family: {err}") from None
    hints = {}
    for cls in reversed(config_cls.__mro__):
        if isinstance(cls, type) and "textae" in cls.__module__:
            hints.update(getattr(cls, "__annotations__", {}))
    set_by_tokenizer = {
        "vocab_size", "pad_token_id", "unk_token_id", "bos_token_id", "eos_token_id", "mask_token_id", "max_seq_length",
        "encoder_vocab_size", "encoder_pad_token_id", "encoder_unk_token_id", "encoder_mask_token_id",
    }
    own = set(hints) - set_by_tokenizer
    for key, value in model.items():
        if key in MODEL_EXTRA_KEYS:
            if not isinstance(value, MODEL_EXTRA_KEYS[key]):
                raise RecipeError(f"model.{key} must be a string, got {value!r}")
            continue
        if key in set_by_tokenizer:
            raise RecipeError(f"model.{key} is set from the tokenizer and data.max_seq_length; remove it from the recipe")
        if key not in own:
            known = sorted(own | set(MODEL_EXTRA_KEYS))
            raise RecipeError(f"unknown key model.{key} for family {model['family']!r}; known keys: {known}")
        annotation = hints[key]
        if isinstance(annotation, str):
            annotation = eval(annotation, {"dict": dict, "list": list, "str": str, "int": int, "float": float, "bool": bool})  # noqa: S307 (dataclass field types only)
        if not _type_ok(value, annotation):
            raise RecipeError(f"model.{key} must be {_type_name(annotation)}, got {value!r} ({type(value).__name__})")
    return model


def _set_dotted(tree: dict, dotted: str, value) -> None:
    parts = dotted.split(".")
    if parts[0] not in ("model", "data", "train") or len(parts) < 2:
        raise RecipeError(f"override {dotted!r} must start with model., data. or train.")
    node = tree
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise RecipeError(f"override {dotted!r} goes through a non-mapping value")
    node[parts[-1]] = value


def parse_overrides(items: list[str]) -> list[tuple[str, object]]:
    out = []
    for item in items:
        if "=" not in item:
            raise RecipeError(f"override {item!r} must look like section.key=value")
        key, raw = item.split("=", 1)
        out.append((key.strip(), yaml.safe_load(raw) if raw != "" else None))
    return out


def load_recipe(path: str | Path | None = None, overrides: list[str] | None = None, base: dict | None = None) -> Recipe:
    """Reads a YAML recipe (``yaml.safe_load``), applies ``key=value`` overrides, checks every key and type."""
    tree: dict = dict(base or {})
    if path is not None:
        path = Path(path)
        if not path.exists():
            raise RecipeError(f"recipe file not found: {path}")
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as err:
            raise RecipeError(f"recipe {path} is not valid YAML: {err}") from None
        if loaded is None:
            raise RecipeError(f"recipe {path} is empty; a recipe needs model / data / train sections (see recipes/quickstart.yaml)")
        if not isinstance(loaded, dict):
            raise RecipeError(f"recipe {path} must be a mapping with model / data / train sections")
        tree.update(loaded)
    unknown = sorted(set(tree) - {"model", "data", "train"})
    if unknown:
        raise RecipeError(f"unknown section {unknown[0]!r}; sections: model, data, train")
    for section in ("model", "data", "train"):
        if not isinstance(tree.get(section) or {}, dict):
            raise RecipeError(f"{section} must be a mapping, got {type(tree[section]).__name__}")
    tree = {k: dict(tree.get(k) or {}) for k in ("model", "data", "train")}
    for key, value in parse_overrides(overrides or []):
        _set_dotted(tree, key, value)
    from .recipe_checks import check_values

    return check_values(Recipe(
        model=_check_model_section(tree["model"]),
        data=_build_section(DataSection, tree["data"], "data"),
        train=_build_section(TrainSection, tree["train"], "train"),
        source=str(path) if path else None,
    ))
