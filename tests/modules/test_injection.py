"""Latent injection into causal LMs without cross-attention: Optimus's memory as past keys/values
and a soft prefix. Each reaches the LM through its cache, so decoding step by step with the cache
gives what one forward over the whole sequence gives."""

import pytest
import torch
from transformers.cache_utils import DynamicCache

from textae.modules import LatentDecoder
from textae.modules.injection import INJECTIONS, KeyValueMemory, memory_mask

DECODERS = {
    "gpt2": {"model_type": "gpt2", "n_embd": 32, "n_layer": 2, "n_head": 4, "n_positions": 64},
    "llama": {"model_type": "llama", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 64},
    "qwen2": {"model_type": "qwen2", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 64},
    "gpt_neox": {"model_type": "gpt_neox", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "max_position_embeddings": 64},
}
MEMORY_POSITIONS = ("past_key_values", "prefix")


def _decoder(name: str, injection: str, per_position: bool = False) -> LatentDecoder:
    torch.manual_seed(0)
    return LatentDecoder(DECODERS[name], vocab_size=30, latent_dim=8, memory_slots=3, inject_embedding=False, injection=injection, per_position_latent=per_position).eval()


def _stepwise(dec, ids, mask, latent, latent_mask=None) -> torch.Tensor:
    """Logits [B, T, V] of feeding ``ids`` one token a call through the cache."""
    cache, steps = DynamicCache(), []
    for t in range(ids.shape[1]):
        out = dec(ids[:, t : t + 1], mask[:, : t + 1], latent=latent, latent_mask=latent_mask, cache=cache, use_cache=True)
        cache = out.cache
        steps.append(out.logits)
    return torch.cat(steps, 1)


@pytest.mark.parametrize("injection", MEMORY_POSITIONS)
@pytest.mark.parametrize("name", sorted(DECODERS))
def test_cached_steps_equal_one_forward_and_the_latent_matters(name, injection):
    dec = _decoder(name, injection)
    ids = torch.randint(0, 30, (2, 6))
    mask = torch.ones(2, 6, dtype=torch.long)
    mask[1, 4:] = 0  # right padding
    z = torch.randn(2, 8)
    full = dec(ids, mask, latent=z).logits
    assert full.shape == (2, 6, 30)  # a prefix's own outputs are dropped
    torch.testing.assert_close(_stepwise(dec, ids, mask, z)[mask.bool()], full[mask.bool()], rtol=1e-5, atol=1e-5)
    assert not torch.allclose(dec(ids, mask, latent=z + 1.0).logits, full, atol=1e-4)
    uncached = dec(ids, mask, latent=z, use_cache=False)
    torch.testing.assert_close(uncached.logits, full)
    assert uncached.cache is None  # an uncached call hands back no stale memory cache


@pytest.mark.parametrize("injection", MEMORY_POSITIONS)
def test_the_gradient_reaches_the_injection_and_not_through_a_masked_memory_position(injection):
    dec = _decoder("llama", injection, per_position=True).train()
    ids = torch.randint(0, 30, (2, 5))
    z = torch.randn(2, 4, 8, requires_grad=True)  # a per-position latent: 4 positions
    latent_mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])
    dec(ids, torch.ones(2, 5, dtype=torch.long), latent=z, latent_mask=latent_mask).logits.sum().backward()
    module = dec.kv_memory if injection == "past_key_values" else dec.prefix
    assert module.weight.grad.abs().sum() > 0
    assert z.grad[1, 2:].abs().max() == 0 and z.grad[1, :2].abs().max() > 0  # masked positions are never read


def test_memory_keys_and_values_have_each_layers_shape():
    dec = _decoder("qwen2", "past_key_values")
    memory = dec.kv_memory
    assert isinstance(memory, KeyValueMemory) and (memory.layers, memory.kv_heads, memory.head_dim) == (2, 2, 8)
    cache = memory.cache(torch.randn(3, 8))
    assert cache.get_seq_length() == 3 and len(cache.layers) == 2
    assert memory_mask(torch.randn(2, 4, 8), torch.tensor([[1, 0, 1, 0], [1, 1, 1, 1]]), 1, torch.long).tolist() == [[1, 0, 1, 0], [1, 1, 1, 1]]


def test_a_decoder_without_cross_attention_is_refused_for_cross_attention_naming_the_alternatives():
    with pytest.raises(ValueError, match="llama decoder has no cross-attention.*'past_key_values' or 'prefix'"):
        LatentDecoder(DECODERS["llama"], vocab_size=30, latent_dim=8, memory_slots=2, injection="cross_attention")
    with pytest.raises(ValueError, match="unknown latent injection 'kv'"):
        LatentDecoder(DECODERS["gpt2"], vocab_size=30, latent_dim=8, memory_slots=2, injection="kv")
    assert set(INJECTIONS) == {"cross_attention", *MEMORY_POSITIONS}
