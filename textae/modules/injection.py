"""How a latent reaches a causal LM that has no cross-attention (Llama, Qwen2, Mistral, GPT-NeoX, Phi).

* ``past_key_values`` (Optimus): z is projected to the key and value of ``slots`` memory positions in
  every layer, written into the LM's cache before the first token, so every token attends to them
  (they carry no position, so RoPE never rotates them);
* ``prefix``: z is projected to ``slots`` input embeddings placed before the first token (a soft
  prompt made from z); their outputs are dropped.

Both leave the LM itself untouched and go through transformers' cache API, so ``generate()`` with
its KV cache gives what a forward over the whole sequence gives. A per-position latent [B, L, d]
(VQ codes) becomes L memory positions, masked by its ``latent_mask``.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import PretrainedConfig
from transformers.cache_utils import DynamicCache

INJECTIONS = ("cross_attention", "past_key_values", "prefix")


def _attention_geometry(config: PretrainedConfig) -> tuple[int, int, int]:
    """(layers, key/value heads, head size) of a causal LM's config."""
    c = config.get_text_config()
    heads = c.num_attention_heads
    kv_heads = getattr(c, "num_key_value_heads", None) or heads
    head_dim = getattr(c, "head_dim", None) or c.hidden_size // heads
    return c.num_hidden_layers, kv_heads, head_dim


class KeyValueMemory(nn.Module):
    """z [B, d] → ``slots`` memory positions of key and value in every layer; z [B, L, d] → L positions."""

    def __init__(self, latent_dim: int, lm_config: PretrainedConfig, slots: int):
        super().__init__()
        self.lm_config = lm_config
        self.layers, self.kv_heads, self.head_dim = _attention_geometry(lm_config)
        self.slots = slots
        self.proj = nn.Linear(latent_dim, slots * self.layers * 2 * self.kv_heads * self.head_dim)

    def positions(self, latent: torch.Tensor) -> int:
        return latent.shape[1] * self.slots if latent.dim() == 3 else self.slots

    def cache(self, latent: torch.Tensor, into: DynamicCache | None = None) -> DynamicCache:
        """``into`` (an empty cache; a new one when None) holding only the memory: per layer key and
        value [B, heads, M, head size]."""
        batch = latent.shape[0]
        kv = self.proj(latent).view(batch, -1, self.layers, 2, self.kv_heads, self.head_dim)  # [B, M, layers, 2, h, hd]
        kv = kv.permute(2, 3, 0, 4, 1, 5)  # [layers, 2, B, h, M, hd]
        cache = into if into is not None else DynamicCache(config=self.lm_config)
        for layer in range(self.layers):
            cache.update(kv[layer, 0], kv[layer, 1], layer)
        return cache


class SoftPrefix(nn.Module):
    """z [B, d] → ``slots`` input embeddings [B, slots, H]; z [B, L, d] → [B, L·slots, H]."""

    def __init__(self, latent_dim: int, hidden_size: int, slots: int):
        super().__init__()
        self.slots, self.hidden_size = slots, hidden_size
        self.proj = nn.Linear(latent_dim, slots * hidden_size)

    def positions(self, latent: torch.Tensor) -> int:
        return latent.shape[1] * self.slots if latent.dim() == 3 else self.slots

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.proj(latent).view(latent.shape[0], -1, self.hidden_size)


def memory_mask(latent: torch.Tensor, latent_mask: torch.Tensor | None, slots: int, dtype) -> torch.Tensor:
    """[B, M]: which memory positions tokens may attend to (a per-position latent's mask, else all)."""
    if latent.dim() == 3 and latent_mask is not None:
        return latent_mask.to(dtype).repeat_interleave(slots, dim=1)
    positions = latent.shape[1] * slots if latent.dim() == 3 else slots
    return torch.ones(latent.shape[0], positions, dtype=dtype, device=latent.device)


def is_first_step(cache) -> bool:
    """Whether no token was run through ``cache`` yet (None, or an empty cache)."""
    return cache is None or cache.get_seq_length() == 0
