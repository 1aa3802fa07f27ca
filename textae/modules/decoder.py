"""Decoder wrapper: any HF causal LM, conditioned on a latent.

* memory: the latent is projected to K "memory" slots (a per-position latent [B, L, d], VQ codes,
  becomes L slots), delivered by a named injection (:mod:`textae.modules.injection`): cross-attention
  for decoders that have it, Optimus's per-layer keys/values or a soft prefix for any causal LM;
* embedding: the latent is projected to one vector added to every input token embedding.

Either can be switched off; with both off the wrapper is a plain LM (the AR baseline).
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import AutoConfig, AutoModelForCausalLM, PretrainedConfig

from ..safe_loading import SAFE_WEIGHTS, refuse_pickled_weights
from .encoder import encoder_config_from_dict
from .injection import DecoderCall, injection_class


# decoders with a table of absolute positions (its size in the config); rotary ones run any length
POSITION_TABLES = {"gpt2": "n_positions", "bert": "max_position_embeddings"}


def as_decoder_config(config: PretrainedConfig, cross_attention: bool) -> PretrainedConfig:
    """``config`` set up as a causal decoder (BERT's ``is_decoder``), with or without cross-attention;
    set on the config because decoder-only architectures take no such keyword."""
    config.is_decoder = True
    config.add_cross_attention = cross_attention
    return config


def _decoder_config(spec: dict | PretrainedConfig, cross_attention: bool, vocab_size: int) -> PretrainedConfig:
    config = as_decoder_config(encoder_config_from_dict(spec), cross_attention)
    config.vocab_size = vocab_size
    return config


def _dim(config: PretrainedConfig) -> int:
    return getattr(config, "hidden_size", None) or config.n_embd


def _masked_mean(latent: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """[B, L, d] → [B, d], the mean over the positions where mask [B, L] is 1 (all without a mask)."""
    if mask is None:
        return latent.mean(1)
    weights = mask.to(latent.dtype)[..., None]
    return (latent * weights).sum(1) / weights.sum(1).clamp(min=1)


class LatentDecoder(nn.Module):
    """A causal LM whose every step can see a latent z.

    Args:
        config: decoder config dict ``{"model_type": "gpt2", ...}`` or a PretrainedConfig.
        vocab_size: output vocabulary (the tokenizer's).
        latent_dim: size d of z (ignored when both injections are off).
        memory_slots: K > 0 turns memory injection on (K slots from a [B, d] latent).
        inject_embedding: add a projection of z to every input embedding.
        pretrained_path: local folder of a pretrained model loaded as the decoder (e.g. BERT as decoder).
        per_position_latent: the latent is [B, L, d] (one memory slot per position) instead of [B, d].
        injection: the name of how the memory slots reach the decoder (see
            :data:`textae.modules.injection.INJECTIONS`).
    """

    def __init__(
        self,
        config: dict | PretrainedConfig,
        vocab_size: int,
        latent_dim: int = 0,
        memory_slots: int = 0,
        inject_embedding: bool = False,
        pretrained_path: str | None = None,
        per_position_latent: bool = False,
        injection: str = "cross_attention",
    ):
        super().__init__()
        style = injection_class(injection)
        cross = memory_slots > 0 and style.needs_cross_attention
        if pretrained_path:
            refuse_pickled_weights(pretrained_path)
            config = as_decoder_config(AutoConfig.from_pretrained(pretrained_path), cross)
            self.lm = AutoModelForCausalLM.from_pretrained(pretrained_path, config=config, **SAFE_WEIGHTS)
        else:
            self.lm = AutoModelForCausalLM.from_config(_decoder_config(config, cross, vocab_size))
        if cross and not any("crossattention" in name or "cross_attn" in name for name, _ in self.lm.named_modules()):
            raise ValueError(
                f"the {self.lm.config.model_type} decoder has no cross-attention to read memory slots from; "
                "set model.latent_injection to 'past_key_values' or 'prefix', which work with any causal LM"
            )
        hidden = _dim(self.lm.config)
        # a per-position latent [B, L, d] (VQ codes) maps each position to one slot ([B, d]: one position)
        slots = 1 if per_position_latent else memory_slots
        self.memory_slots = slots
        self._injection_attribute = style.attribute if memory_slots > 0 else None
        if memory_slots > 0:  # saved under the style's own name (``to_memory`` for cross-attention)
            setattr(self, style.attribute, style(latent_dim, self.lm.config, hidden, slots))
        self.to_embedding = nn.Linear(latent_dim, hidden) if inject_embedding else None
        self.hidden_size = hidden
        self.to_aligned, self.aligned_stride = None, 0

    def align_latent(self, stride: int, latent_dim: int) -> nn.Linear:
        """Per-position latents whose position i covers tokens [i·stride, (i+1)·stride) (VQ codes):
        also add a projection of latent[:, t // stride] to the embedding of input position t, the
        code of the token predicted there (the latent upsampled to the token rate, as audio VQ-VAE
        decoders are conditioned). Returns the new projection."""
        self.aligned_stride = stride
        self.to_aligned = nn.Linear(latent_dim, self.hidden_size)
        return self.to_aligned

    def _aligned(self, latent: torch.Tensor, latent_mask: torch.Tensor | None, length: int, cache) -> torch.Tensor:
        """[B, T, H]: the projection of the latent position of each input position (0 past the latent)."""
        past = cache.get_seq_length() if cache is not None else 0
        slot = (past + torch.arange(length, device=latent.device)) // self.aligned_stride
        valid = (slot < latent.shape[1])[None, :].expand(latent.shape[0], -1)
        slot = slot.clamp(max=latent.shape[1] - 1)
        if latent_mask is not None:
            valid = valid & latent_mask[:, slot].bool()
        return self.to_aligned(latent[:, slot]) * valid[..., None].to(latent.dtype)

    @property
    def all_tied_weights_keys(self) -> dict[str, str]:
        # lets the enclosing PreTrainedModel re-tie the LM head to the embeddings on load
        return {f"lm.{k}": f"lm.{v}" for k, v in (getattr(self.lm, "all_tied_weights_keys", None) or {}).items()}

    def positions_left(self, latent_positions: int = 0) -> int | None:
        """How many tokens the LM's position table holds after BOS and the memory positions a prefix
        or key/value memory takes (``latent_positions`` of them for a per-position latent); None when
        it has no table (rotary positions)."""
        c = self.lm.config.get_text_config()
        if c.model_type not in POSITION_TABLES:
            return None
        table = getattr(c, POSITION_TABLES[c.model_type])
        memory = 0
        if self.injection is not None and not self.injection.needs_cross_attention:
            memory = latent_positions * self.injection.slots if latent_positions else self.injection.slots
        return table - 1 - memory

    @property
    def injection(self):
        """The memory's injection module (None without memory slots)."""
        return getattr(self, self._injection_attribute) if self._injection_attribute else None

    @property
    def uses_latent(self) -> bool:
        return self.injection is not None or self.to_embedding is not None

    def memory(self, latent: torch.Tensor) -> torch.Tensor | None:
        """The memory slots of a latent: [B, d] → [B, K, width]; [B, L, d] → [B, L, width]."""
        return None if self.injection is None else self.injection.slots_of(latent)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        latent: torch.Tensor | None = None,
        latent_mask: torch.Tensor | None = None,
        cache=None,
        use_cache: bool | None = None,
        position_ids: torch.Tensor | None = None,
    ):
        """input_ids: [B, T]; latent: [B, d] or [B, L, d]; position_ids [B, T] (packed sentences: restarting
        at each one, with no attention_mask); returns the HF causal-LM output (logits [B, T, V])."""
        embeds = self.lm.get_input_embeddings()(input_ids)
        call = DecoderCall(embeds, attention_mask, cache, use_cache)
        if latent is not None:
            latent = latent.to(embeds.dtype)
            if self.to_embedding is not None:
                pooled = latent if latent.dim() == 2 else _masked_mean(latent, latent_mask)
                call.embeds = call.embeds + self.to_embedding(pooled)[:, None, :]
            if self.to_aligned is not None and latent.dim() == 3:
                call.embeds = call.embeds + self._aligned(latent, latent_mask, input_ids.shape[1], cache)
            if self.injection is not None:
                call = self.injection.prepare(call, latent, latent_mask)
        elif self.uses_latent:
            raise ValueError("this decoder is conditioned on a latent; pass latent=[B, d]")
        if position_ids is not None:
            call.kwargs["position_ids"] = position_ids
            if call.cache is None:
                # transformers masks attention between packed sentences only when no cache is in use
                call.use_cache = False
        out = self.lm(inputs_embeds=call.embeds, attention_mask=call.attention_mask, cache=call.cache, use_cache=call.use_cache, **call.kwargs)
        return self.injection.finish(out, call) if self.injection is not None and latent is not None else out
