"""Decoder wrapper: any HF causal LM, conditioned on a latent.

* memory: the latent is projected to K "memory" slots (a per-position latent [B, L, d], VQ codes,
  becomes L slots), delivered by ``injection``:
  - ``cross_attention``: slots the decoder cross-attends to (``encoder_hidden_states``), for decoders
    that have cross-attention: GPT-2 (``add_cross_attention``), BERT as decoder (as TSDAE does);
  - ``past_key_values``: Optimus's memory, per-layer keys and values in the cache before the first
    token, for any causal LM (Llama, Qwen2, GPT-NeoX, ...); see :mod:`textae.modules.injection`;
  - ``prefix``: K input embeddings made from z placed before the first token, for any causal LM;
* embedding: the latent is projected to one vector added to every input token embedding.

Either can be switched off; with both off the wrapper is a plain LM (the AR baseline).
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import AutoModelForCausalLM, PretrainedConfig
from transformers.cache_utils import DynamicCache, EncoderDecoderCache

from ..safe_loading import SAFE_WEIGHTS, refuse_pickled_weights
from .encoder import encoder_config_from_dict
from .injection import INJECTIONS, KeyValueMemory, SoftPrefix, is_first_step, memory_mask


def _decoder_config(spec: dict | PretrainedConfig, cross_attention: bool, vocab_size: int) -> PretrainedConfig:
    config = encoder_config_from_dict(spec)
    config.is_decoder = True
    config.add_cross_attention = cross_attention
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
        injection: how the memory slots reach the decoder: "cross_attention", "past_key_values" or
            "prefix" (see the module docstring).
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
        if injection not in INJECTIONS:
            raise ValueError(f"unknown latent injection {injection!r}; known: {list(INJECTIONS)}")
        self.injection = injection
        cross = memory_slots > 0 and injection == "cross_attention"
        if pretrained_path:
            refuse_pickled_weights(pretrained_path)
            self.lm = AutoModelForCausalLM.from_pretrained(
                pretrained_path, is_decoder=True, add_cross_attention=cross, **SAFE_WEIGHTS
            )
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
        self.to_memory = nn.Linear(latent_dim, slots * hidden) if cross else None
        self.kv_memory = KeyValueMemory(latent_dim, self.lm.config, slots) if memory_slots > 0 and injection == "past_key_values" else None
        self.prefix = SoftPrefix(latent_dim, hidden, slots) if memory_slots > 0 and injection == "prefix" else None
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

    @property
    def uses_latent(self) -> bool:
        return any(m is not None for m in (self.to_memory, self.to_embedding, self.kv_memory, self.prefix))

    def memory(self, latent: torch.Tensor) -> torch.Tensor | None:
        """latent [B, d] → [B, K, H]; latent [B, L, d] → [B, L, H]."""
        if self.to_memory is None:
            return None
        if latent.dim() == 3:
            return self.to_memory(latent)
        return self.to_memory(latent).view(latent.shape[0], self.memory_slots, self.hidden_size)

    def _cache_for(self, cache, memory):
        # BERT-as-decoder needs a cross-attention cache; GPT-2 builds its own from a plain one.
        if memory is not None and isinstance(cache, DynamicCache) and not isinstance(cache, EncoderDecoderCache):
            if self.lm.config.model_type != "gpt2" and cache.get_seq_length() == 0:
                return EncoderDecoderCache(cache, DynamicCache())
        return cache

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
        memory, prefix_length = None, 0
        if latent is not None:
            latent = latent.to(embeds.dtype)
            if self.to_embedding is not None:
                pooled = latent if latent.dim() == 2 else _masked_mean(latent, latent_mask)
                embeds = embeds + self.to_embedding(pooled)[:, None, :]
            if self.to_aligned is not None and latent.dim() == 3:
                embeds = embeds + self._aligned(latent, latent_mask, input_ids.shape[1], cache)
            memory = self.memory(latent)
            if self.kv_memory is not None or self.prefix is not None:
                if use_cache is False:  # every call sees the whole sequence: a cache handed back is stale
                    cache = None
                embeds, attention_mask, cache, prefix_length = self._memory_positions(embeds, attention_mask, latent, latent_mask, cache)
        elif self.uses_latent:
            raise ValueError("this decoder is conditioned on a latent; pass latent=[B, d]")
        if use_cache and cache is None and memory is not None and self.lm.config.model_type != "gpt2":
            cache = EncoderDecoderCache(DynamicCache(), DynamicCache())
        kwargs = {}
        if position_ids is not None:
            kwargs["position_ids"] = position_ids
            if cache is None:
                # transformers masks attention between packed sentences only when no cache is in use
                use_cache = False
        if memory is not None:
            kwargs["encoder_hidden_states"] = memory
            if latent_mask is not None:
                kwargs["encoder_attention_mask"] = latent_mask
        out = self.lm(
            inputs_embeds=embeds,
            attention_mask=attention_mask,
            cache=self._cache_for(cache, memory),
            use_cache=use_cache,
            **kwargs,
        )
        if prefix_length:  # the prefix's own outputs predict nothing
            out.logits = out.logits[:, prefix_length:]
        if use_cache is False and (self.kv_memory is not None or self.prefix is not None):
            out.cache = None  # the memory's cache was this call's own
        return out

    def _memory_positions(self, embeds, attention_mask, latent, latent_mask, cache):
        """Memory as positions before the tokens: keys and values in the cache, or prefix embeddings,
        on the first step only; every step's attention mask gets the memory's columns in front.
        Returns the embeddings, the mask, the cache and how many prefix outputs to drop."""
        module = self.kv_memory if self.kv_memory is not None else self.prefix
        first = is_first_step(cache)
        prefix_length = 0
        if first and self.kv_memory is not None:
            cache = self.kv_memory.cache(latent, into=cache)
        elif first:
            memory_embeds = self.prefix(latent).to(embeds.dtype)
            embeds, prefix_length = torch.cat([memory_embeds, embeds], dim=1), memory_embeds.shape[1]
        if attention_mask is not None or latent_mask is not None:
            if attention_mask is None:  # every token so far is real: the past ones and these
                seen = 0 if first else cache.get_seq_length() - module.positions(latent)
                attention_mask = torch.ones(embeds.shape[0], seen + embeds.shape[1] - prefix_length, dtype=torch.long, device=embeds.device)
            attention_mask = torch.cat([memory_mask(latent, latent_mask, module.slots, attention_mask.dtype), attention_mask], dim=1)
        return embeds, attention_mask, cache, prefix_length
