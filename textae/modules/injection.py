"""How the memory slots made from z reach a causal LM: one small class per style, chosen by name
(``model.latent_injection``) from :data:`INJECTIONS`, as bottlenecks are.

* ``cross_attention``: slots the decoder cross-attends to (``encoder_hidden_states``), for decoders
  that have cross-attention: GPT-2 (``add_cross_attention``), BERT as decoder (as TSDAE does);
* ``past_key_values`` (Optimus): z is projected to the key and value of the slots in every layer,
  written into the LM's cache before the first token, so every token attends to them; they carry no
  position, so RoPE never rotates them. Any causal LM (Llama, Qwen2, Mistral, GPT-NeoX, Phi, GPT-2);
* ``prefix``: z is projected to slot embeddings placed before the first token (a soft prompt made
  from z); their outputs are dropped. Any causal LM.

The last two leave the LM untouched and go through transformers' cache API, so ``generate()`` with
its KV cache gives what one forward over the whole sequence gives. A per-position latent [B, L, d]
(VQ codes) gives one slot per position, masked by its ``latent_mask``.

Each style is an ``nn.Linear`` from z (the projection is the whole module, so its weights save under
the decoder's attribute :attr:`LatentInjection.attribute`) with one method, :meth:`prepare`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from transformers import PretrainedConfig
from transformers.cache_utils import DynamicCache, EncoderDecoderCache


@dataclass
class DecoderCall:
    """What one call of the LM gets: input embeddings [B, T, H], attention mask, cache, keyword
    inputs, and how many leading outputs to drop (a prefix's)."""

    embeds: torch.Tensor
    attention_mask: torch.Tensor | None
    cache: object
    use_cache: bool | None
    kwargs: dict = field(default_factory=dict)
    drop: int = 0


class LatentInjection(nn.Linear):
    """z [B, d] → ``slots`` memory slots of ``width`` features each (z [B, L, d] → one slot a position)."""

    attribute = "injection"  # the decoder attribute the weights save under
    needs_cross_attention = False

    def __init__(self, latent_dim: int, lm_config: PretrainedConfig, hidden_size: int, slots: int, width: int):
        super().__init__(latent_dim, slots * width)
        self.slots, self.width = slots, width

    def slots_of(self, latent: torch.Tensor) -> torch.Tensor:
        """[B, M, width]: M = slots for z [B, d], L · slots for z [B, L, d]."""
        return self(latent).view(latent.shape[0], -1, self.width)

    def prepare(self, call: DecoderCall, latent: torch.Tensor, latent_mask: torch.Tensor | None) -> DecoderCall:
        """The LM call with the memory in it."""
        raise NotImplementedError

    def finish(self, out, call: DecoderCall):
        """The LM's output as the decoder returns it."""
        return out


class CrossAttentionMemory(LatentInjection):
    attribute = "to_memory"
    needs_cross_attention = True

    def __init__(self, latent_dim, lm_config, hidden_size, slots):
        super().__init__(latent_dim, lm_config, hidden_size, slots, hidden_size)
        self.own_cache = lm_config.model_type == "gpt2"  # GPT-2 builds its cross-attention cache itself

    def prepare(self, call, latent, latent_mask):
        call.kwargs["encoder_hidden_states"] = self.slots_of(latent)
        if latent_mask is not None:
            call.kwargs["encoder_attention_mask"] = latent_mask
        if not self.own_cache:  # BERT as decoder needs a cache with a cross-attention half
            if call.use_cache and call.cache is None:
                call.cache = EncoderDecoderCache(DynamicCache(), DynamicCache())
            elif isinstance(call.cache, DynamicCache) and not isinstance(call.cache, EncoderDecoderCache) and call.cache.get_seq_length() == 0:
                call.cache = EncoderDecoderCache(call.cache, DynamicCache())
        return call


class _MemoryPositions(LatentInjection):
    """Memory as positions before the tokens: made on the first call only (an empty cache), while
    every call's attention mask gets the memory's columns in front."""

    def prepare(self, call, latent, latent_mask):
        if call.use_cache is False:  # each call sees the whole sequence: a cache handed back is stale
            call.cache = None
        first = call.cache is None or call.cache.get_seq_length() == 0
        positions = self.slots_of_count(latent)
        if first:
            call = self.first_call(call, latent)
        if call.attention_mask is not None or latent_mask is not None:
            if call.attention_mask is None:  # every token so far is real: the past ones and these
                seen = 0 if first else call.cache.get_seq_length() - positions
                call.attention_mask = torch.ones(call.embeds.shape[0], seen + call.embeds.shape[1] - call.drop, dtype=torch.long, device=call.embeds.device)
            call.attention_mask = torch.cat([memory_mask(latent, latent_mask, self.slots, call.attention_mask.dtype), call.attention_mask], dim=1)
        return call

    def finish(self, out, call):
        if call.drop:  # a prefix's own outputs predict nothing
            out.logits = out.logits[:, call.drop :]
        if call.use_cache is False:
            out.cache = None  # the memory's cache was this call's own
        return out

    def slots_of_count(self, latent: torch.Tensor) -> int:
        return latent.shape[1] * self.slots if latent.dim() == 3 else self.slots

    def first_call(self, call: DecoderCall, latent: torch.Tensor) -> DecoderCall:
        raise NotImplementedError


class KeyValueMemory(_MemoryPositions):
    attribute = "kv_memory"

    def __init__(self, latent_dim, lm_config, hidden_size, slots):
        layers, kv_heads, head_dim = attention_geometry(lm_config)
        super().__init__(latent_dim, lm_config, hidden_size, slots, layers * 2 * kv_heads * head_dim)
        self.lm_config = lm_config
        self.layers, self.kv_heads, self.head_dim = layers, kv_heads, head_dim

    def cache(self, latent: torch.Tensor, into: DynamicCache | None = None) -> DynamicCache:
        """``into`` (an empty cache; a new one when None) holding only the memory: per layer key and
        value [B, heads, M, head size]."""
        kv = self.slots_of(latent).view(latent.shape[0], -1, self.layers, 2, self.kv_heads, self.head_dim)
        kv = kv.permute(2, 3, 0, 4, 1, 5)  # [layers, 2, B, heads, M, head size]
        cache = into if into is not None else DynamicCache(config=self.lm_config)
        for layer in range(self.layers):
            cache.update(kv[layer, 0], kv[layer, 1], layer)
        return cache

    def first_call(self, call, latent):
        call.cache = self.cache(latent.to(call.embeds.dtype), into=call.cache)
        return call


class SoftPrefix(_MemoryPositions):
    attribute = "prefix"

    def __init__(self, latent_dim, lm_config, hidden_size, slots):
        super().__init__(latent_dim, lm_config, hidden_size, slots, hidden_size)

    def first_call(self, call, latent):
        prefix = self.slots_of(latent).to(call.embeds.dtype)
        call.embeds, call.drop = torch.cat([prefix, call.embeds], dim=1), prefix.shape[1]
        return call


INJECTIONS: dict[str, type[LatentInjection]] = {
    "cross_attention": CrossAttentionMemory,
    "past_key_values": KeyValueMemory,
    "prefix": SoftPrefix,
}


def register_injection(name: str, cls: type[LatentInjection]) -> None:
    INJECTIONS[name] = cls


def injection_class(name: str) -> type[LatentInjection]:
    if name not in INJECTIONS:
        raise ValueError(f"unknown latent injection {name!r}; known: {list(INJECTIONS)}")
    return INJECTIONS[name]


def attention_geometry(config: PretrainedConfig) -> tuple[int, int, int]:
    """(layers, key/value heads, head size) of a causal LM's config."""
    c = config.get_text_config()
    heads = c.num_attention_heads
    kv_heads = getattr(c, "num_key_value_heads", None) or heads
    head_dim = getattr(c, "head_dim", None) or c.hidden_size // heads
    return c.num_hidden_layers, kv_heads, head_dim


def memory_mask(latent: torch.Tensor, latent_mask: torch.Tensor | None, slots: int, dtype) -> torch.Tensor:
    """[B, M]: which memory positions tokens may attend to (a per-position latent's mask, else all)."""
    if latent.dim() == 3 and latent_mask is not None:
        return latent_mask.to(dtype).repeat_interleave(slots, dim=1)
    positions = latent.shape[1] * slots if latent.dim() == 3 else slots
    return torch.ones(latent.shape[0], positions, dtype=dtype, device=latent.device)
