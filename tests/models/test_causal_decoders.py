"""The autoencoder families with decoder-only LMs that have no cross-attention (Llama, Qwen2,
GPT-NeoX, and GPT-2 without its cross-attention), the latent reaching them as Optimus's memory
keys/values or as a soft prefix: save → AutoModel gives identical outputs, generation depends on z,
and generation with the KV cache equals generation without it."""

import pytest
import torch
from transformers import AutoModel

from tests.conftest import conditioning, make_batch, tiny_model
from tests.modules.test_injection import DECODERS, MEMORY_POSITIONS

TEXTS = ["the cat sat on the mat", "a dog ran", "the bird sang a song"]


def _model(family: str, decoder: str, injection: str, tokenizer):
    spec = {**DECODERS[decoder], "vocab_size": len(tokenizer)}
    return tiny_model(family, tokenizer, decoder_config=spec, latent_injection=injection).eval()


def _generate(model, z, **kwargs) -> torch.Tensor:
    bos = torch.full((z.shape[0], 1), model.config.bos_token_id)
    return model.generate(input_ids=bos, latent=z, max_new_tokens=6, min_new_tokens=6, do_sample=False, **conditioning(model, z.shape[0]), **kwargs)


@pytest.mark.parametrize("injection", MEMORY_POSITIONS)
@pytest.mark.parametrize("decoder", sorted(DECODERS))
@pytest.mark.parametrize("family", ["ae", "vae", "cvae"])
def test_save_load_cache_and_latent(family, decoder, injection, tokenizer, tmp_path):
    model = _model(family, decoder, injection, tokenizer)
    batch = make_batch(model, tokenizer, TEXTS)
    with torch.no_grad():
        before = model(**batch).logits
    model.save_pretrained(tmp_path)
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(**batch).logits, before, rtol=1e-5, atol=1e-6)
    torch.manual_seed(1)
    z = torch.randn(3, model.config.latent_dim) * 3
    cached = _generate(model, z, use_cache=True)
    assert torch.equal(cached, _generate(model, z, use_cache=False))
    assert not torch.equal(cached, _generate(model, -z, use_cache=True))


@pytest.mark.parametrize("injection", MEMORY_POSITIONS)
def test_a_llama_vae_learns_to_reconstruct_through_its_injection(injection, tokenizer):
    model = _model("vae", "llama", injection, tokenizer).train()
    batch = make_batch(model, tokenizer, TEXTS)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        loss = model(**batch, loss_weights={"kl": 0.0}).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
