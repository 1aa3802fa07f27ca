"""Step-dependent weights as pure functions of the step (the model holds no schedule state).

Each function maps ``step`` (0-based optimizer step) to a weight. :func:`weight_at` evaluates a
:class:`~textae.training.recipe.ScheduleSpec`; :func:`loss_weights_at` gives the dict the training
loop passes to ``forward(loss_weights=...)``.

* constant: ``value``.
* linear: ``start`` → ``value`` over ``warmup_steps``, then ``value`` (Bowman et al. 2016's annealing).
* sigmoid: logistic rise from ``start`` to ``value`` centred at ``warmup_steps / 2``.
* cyclical: ``cycles`` cycles over ``total_steps``; in each, ``ratio_zero`` of the cycle held at
  ``start``, then a linear rise over ``ratio_increase``, then ``value`` (Fu et al. 2019; Optimus).
"""

from __future__ import annotations

import math


def constant(step: int, value: float = 1.0) -> float:
    return value


def linear(step: int, value: float = 1.0, start: float = 0.0, warmup_steps: int = 0) -> float:
    if warmup_steps <= 0 or step >= warmup_steps:
        return value
    return start + (value - start) * step / warmup_steps


def sigmoid(step: int, value: float = 1.0, start: float = 0.0, warmup_steps: int = 0) -> float:
    if warmup_steps <= 0:
        return value
    # reaches ~99.3% of the way at warmup_steps (slope 10 / warmup_steps)
    x = 10.0 * (step - warmup_steps / 2) / warmup_steps
    return start + (value - start) / (1.0 + math.exp(-x))


def cyclical(
    step: int,
    value: float = 1.0,
    start: float = 0.0,
    total_steps: int = 1,
    cycles: int = 4,
    ratio_increase: float = 0.5,
    ratio_zero: float = 0.0,
) -> float:
    if not 0.0 <= ratio_zero <= 1.0 or not 0.0 < ratio_increase <= 1.0 or ratio_zero + ratio_increase > 1.0:
        raise ValueError(f"cyclical needs 0 ≤ ratio_zero, 0 < ratio_increase, sum ≤ 1; got {ratio_zero}, {ratio_increase}")
    period = max(1.0, total_steps / max(1, cycles))
    phase = (step % period) / period
    if phase < ratio_zero:
        return start
    rise = (phase - ratio_zero) / ratio_increase
    return start + (value - start) * min(1.0, rise)


SCHEDULES = {"constant": constant, "linear": linear, "sigmoid": sigmoid, "cyclical": cyclical}


def weight_at(spec, step: int, max_steps: int) -> float:
    """The weight a :class:`ScheduleSpec` gives at ``step``."""
    if spec.kind not in SCHEDULES:
        raise ValueError(f"unknown schedule kind {spec.kind!r}; choose one of {sorted(SCHEDULES)}")
    if spec.kind == "constant":
        return constant(step, spec.value)
    if spec.kind == "cyclical":
        total = spec.total_steps or max_steps
        return cyclical(step, spec.value, spec.start, total, spec.cycles, spec.ratio_increase, spec.ratio_zero)
    return SCHEDULES[spec.kind](step, spec.value, spec.start, spec.warmup_steps)


def loss_weights_at(specs: dict, step: int, max_steps: int) -> dict[str, float]:
    return {term: weight_at(spec, step, max_steps) for term, spec in specs.items()}
