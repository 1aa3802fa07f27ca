"""Range checks of recipe values, after their types are checked: a value no run can use is named
with its range before anything loads (a NaN learning rate, a batch of 0, ``log_every: 0``...).

``eval_every`` / ``save_every`` past ``max_steps`` are accepted: evaluation and the checkpoint then
happen once, at the last step (the loop always evaluates and saves there).
"""

from __future__ import annotations

import math

from .recipe import Recipe, RecipeError

# key → (lowest, highest, whether the lowest is allowed); None: unbounded
TRAIN_RANGES = {
    "max_steps": (1, None, True),
    "batch_size": (1, None, True),
    "eval_batch_size": (1, None, True),
    "gradient_accumulation_steps": (1, None, True),
    "learning_rate": (0.0, None, False),
    "new_learning_rate": (0.0, None, False),
    "weight_decay": (0.0, None, True),
    "adam_beta2": (0.0, 1.0, True),  # below 1: the second-moment average must forget
    "warmup_steps": (0, None, True),
    "max_grad_norm": (0.0, None, True),  # 0: no clipping
    "max_nonfinite_steps": (1, None, True),
    "pad_to_multiple_of": (1, None, True),
    "eval_every": (0, None, True),  # 0: no evaluation during training
    "save_every": (0, None, True),  # 0: no checkpoints
    "log_every": (1, None, True),
    "keep_checkpoints": (0, None, True),  # 0: keep them all
    "iw_samples": (1, None, True),
    "show_reconstructions": (0, None, True),
    "dataloader_workers": (0, None, True),
}
DATA_RANGES = {
    "max_seq_length": (1, None, True),
    "vocab_size": (1, None, True),
    "synthetic_train_size": (1, None, True),
    "synthetic_eval_size": (1, None, True),
    "max_train_examples": (1, None, True),
    "max_eval_examples": (1, None, True),
}
OPEN_ABOVE = {"adam_beta2"}  # the highest value itself is refused


def _describe(low, high, low_ok: bool, high_open: bool) -> str:
    if high is None:
        return f"{'≥' if low_ok else '>'} {low}"
    return f"in {'[' if low_ok else '('}{low}, {high}{')' if high_open else ']'}"


def _check(where: str, name: str, value, rule) -> None:
    if value is None:
        return  # an optional setting left unset
    low, high, low_ok = rule
    high_open = name in OPEN_ABOVE
    if isinstance(value, float) and not math.isfinite(value):
        raise RecipeError(f"{where}.{name} must be a finite number {_describe(low, high, low_ok, high_open)}, got {value}")
    too_low = value < low if low_ok else value <= low
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        raise RecipeError(f"{where}.{name} must be {_describe(low, high, low_ok, high_open)}, got {value}")


def _check_model_rates(model: dict) -> None:
    """Probabilities among the model settings (dropout, word dropout, rates) lie in [0, 1]."""
    for key, value in model.items():
        probability = key.endswith(("dropout", "_rate", "_prob")) and isinstance(value, (int, float)) and not isinstance(value, bool)
        if probability and not (math.isfinite(value) and 0 <= value <= 1):
            raise RecipeError(f"model.{key} is a probability and must be in [0, 1], got {value}")


def check_values(recipe: Recipe) -> Recipe:
    for name, rule in TRAIN_RANGES.items():
        _check("train", name, getattr(recipe.train, name), rule)
    for name, rule in DATA_RANGES.items():
        _check("data", name, getattr(recipe.data, name), rule)
    for term, spec in recipe.train.loss_weights.items():
        if not math.isfinite(spec.value) or not math.isfinite(spec.start):
            raise RecipeError(f"train.loss_weights.{term}: value and start must be finite numbers, got {spec.value}, {spec.start}")
    _check_model_rates(recipe.model)
    return recipe
