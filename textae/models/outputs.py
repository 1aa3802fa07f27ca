"""What a textae model's forward returns: ``loss`` first, then each loss term by name.

Every family returns ``loss`` (the weighted sum of its terms, see :mod:`textae.models.losses`),
``reconstruction_loss`` (its main term, also ``loss_terms["reconstruction"]``), ``logits`` [B, T, V],
``loss_terms`` (every term computed this step, by name: ``kl``, ``consistency``, ``codebook`` ...) and
``stats`` (named scalars to log, not trained on). ``cache`` is the decoder's KV cache in generation.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers.utils import ModelOutput


@dataclass
class TextAEOutput(ModelOutput):
    """Output of every autoencoder family.

    loss: weighted sum of ``loss_terms``; reconstruction_loss: mean token cross-entropy (nats);
    logits: [B, T, V]; latent: [B, d] or [B, L, d]; loss_terms / stats: named scalars to log;
    cache: the decoder's KV cache during generation.
    """

    loss: torch.FloatTensor | None = None
    reconstruction_loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    latent: torch.FloatTensor | None = None
    loss_terms: dict | None = None
    stats: dict | None = None
    cache: object | None = None


@dataclass
class TextLMOutput(ModelOutput):
    """loss: mean next-token cross-entropy (nats); logits: [B, T, V]."""

    loss: torch.FloatTensor | None = None
    reconstruction_loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    loss_terms: dict | None = None
    stats: dict | None = None
    cache: object | None = None
