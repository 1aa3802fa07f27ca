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


def word_vectors(states: torch.Tensor, word_ids: torch.Tensor, num_words: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean token state of each word: states [B, T, H] and word_ids [B, T] (−1: no word) →
    (vectors [B, W, H], token counts [B, W]) with W = ``num_words``; a word without tokens is 0."""
    batch, _, hidden = states.shape
    valid = word_ids >= 0
    slot = (torch.arange(batch, device=states.device)[:, None] * num_words + word_ids.clamp(min=0))[valid]
    sums = states.new_zeros(batch * num_words, hidden, dtype=torch.float32).index_add(0, slot, states[valid].float())
    counts = states.new_zeros(batch * num_words, dtype=torch.float32).index_add(0, slot, states.new_ones(slot.shape, dtype=torch.float32))
    vectors = sums / counts.clamp(min=1.0)[:, None]
    return vectors.view(batch, num_words, hidden), counts.view(batch, num_words)


def word_cosine_distance(states, word_ids, target_states, target_word_ids) -> torch.Tensor:
    """Mean over the words present on both sides of 1 − cos(word vector, target word vector), each
    the mean of its tokens' states ([B, T, H] with word ids [B, T], −1 for none); 0 (with a graph)
    when no word is on both sides."""
    num_words = int(max(word_ids.max().item(), target_word_ids.max().item())) + 1
    if num_words <= 0:
        return states.sum() * 0.0
    vectors, counts = word_vectors(states, word_ids, num_words)
    with torch.no_grad():
        targets, target_counts = word_vectors(target_states, target_word_ids, num_words)
    both = (counts > 0) & (target_counts > 0)
    if not both.any():
        return states.sum() * 0.0
    return (1.0 - F.cosine_similarity(vectors[both], targets[both], dim=-1)).mean()


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
