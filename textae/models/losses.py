"""The loss pieces every family shares: token cross-entropy, cosine distance, and the one rule by
which a loss term gets its weight.

A term's weight, highest first: the per-step ``loss_weights`` the training loop passes to
``forward`` (a schedule), the config's ``loss_weights`` (saved with the model), the family's
declared default (``default_loss_weights()``: 1 for the terms it always computes, 0 for optional
ones such as the DAE's ``consistency``, which it then does not compute).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F

from ..tensors import IGNORE_INDEX


def token_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-token NLL [B, T] in fp32 (0 where target is IGNORE_INDEX); logits [B, T, V], targets [B, T]."""
    flat = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1), ignore_index=IGNORE_INDEX, reduction="none")
    return flat.view(targets.shape)


def cosine_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of 1 − cos(a_i, b_i); a, b [B, d] (or [B, L, d], flattened per row)."""
    return (1.0 - F.cosine_similarity(a.flatten(1).float(), b.flatten(1).float(), dim=-1)).mean()


def resolve_loss_weights(defaults: Mapping[str, float], configured: Mapping[str, float] | None = None, per_step: Mapping[str, float] | None = None) -> dict[str, float]:
    """The weight of every term: ``per_step`` over ``configured`` over the family's ``defaults``.

    ``defaults`` names the family's terms; a per-step weight of any other term is an error (a typo in
    a recipe's ``train.loss_weights`` would otherwise train without it). A configured weight of an
    unknown term is kept and unused: configs saved by other versions may carry one.

    >>> resolve_loss_weights({"reconstruction": 1.0, "consistency": 0.0}, {"consistency": 0.5}, {"reconstruction": 2.0})
    {'reconstruction': 2.0, 'consistency': 0.5}
    """
    unknown = sorted(set(per_step or {}) - set(defaults))
    if unknown:
        raise ValueError(f"loss_weights names unknown term {unknown[0]!r}; terms: {sorted(defaults)}")
    return {**defaults, **(configured or {}), **(per_step or {})}


def weighted_sum(terms: Mapping[str, torch.Tensor], weights: Mapping[str, float]) -> torch.Tensor:
    """Σ_k w_k · term_k over the terms computed; a computed term the family did not declare is an error."""
    undeclared = sorted(set(terms) - set(weights))
    if undeclared:
        raise ValueError(f"loss term {undeclared[0]!r} has no weight: the family does not declare it in default_loss_weights()")
    return sum(weights[name] * value for name, value in terms.items())
