"""Every encoder × decoder pair of tiny random HF models (BERT, RoBERTa, DistilBERT, ModernBERT ×
GPT-2, Llama, Qwen2, GPT-NeoX) for the ae, vae and cvae families, with LoRA on both sides. The
decoder-only LMs, which have no cross-attention, read the latent as Optimus's memory keys/values (or
a soft prefix): save → AutoModel gives identical outputs, only the intended parameters train,
generation depends on z, and generation with the KV cache equals generation without it."""

import pytest
import torch
from transformers import AutoModel

from tests.conftest import conditioning, make_batch, tiny_model
from tests.modules.test_injection import DECODERS, MEMORY_POSITIONS

TEXTS = ["the cat sat on the mat", "a dog ran", "the bird sang a song"]
ENCODERS = {
    "bert": {"model_type": "bert", "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64, "max_position_embeddings": 64},
    "roberta": {"model_type": "roberta", "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64, "max_position_embeddings": 70},
    "distilbert": {"model_type": "distilbert", "dim": 32, "n_layers": 1, "n_heads": 2, "hidden_dim": 64, "max_position_embeddings": 64},
    "modernbert": {"model_type": "modernbert", "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64, "max_position_embeddings": 64},
}


def _model(family: str, encoder: str, decoder: str, injection: str, tokenizer, **overrides):
    spec = {**DECODERS[decoder], "vocab_size": len(tokenizer)}
    return tiny_model(family, tokenizer, encoder_config=ENCODERS[encoder], decoder_config=spec, latent_injection=injection, **overrides).eval()


def _generate(model, z, **kwargs) -> torch.Tensor:
    bos = torch.full((z.shape[0], 1), model.config.bos_token_id)
    return model.generate(input_ids=bos, latent=z, max_new_tokens=6, min_new_tokens=6, do_sample=False, **conditioning(model, z.shape[0]), **kwargs)


def _check_pair(model, tokenizer, tmp_path) -> None:
    batch = make_batch(model, tokenizer, TEXTS)
    with torch.no_grad():
        before = model(**batch).logits
    model.save_pretrained(tmp_path)
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(**batch).logits, before, rtol=1e-5, atol=1e-6)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert {n for n, p in loaded.named_parameters() if p.requires_grad} == trainable
    if model.config.lora:  # the backbones train through their adapters alone
        assert all("lora_" in n for n in trainable if n.startswith(("encoder.model.", "decoder.lm.")))
    torch.manual_seed(1)
    z = torch.randn(3, model.config.latent_dim) * 3
    cached = _generate(model, z, use_cache=True)
    assert torch.equal(cached, _generate(model, z, use_cache=False))
    assert not torch.equal(cached, _generate(model, -z, use_cache=True))


@pytest.mark.parametrize("decoder", sorted(DECODERS))
@pytest.mark.parametrize("encoder", sorted(ENCODERS))
@pytest.mark.parametrize("family", ["ae", "vae", "cvae"])
def test_each_encoder_decoder_pair_with_lora(family, encoder, decoder, tokenizer, tmp_path):
    injection = "cross_attention" if decoder == "gpt2" else "past_key_values"
    _check_pair(_model(family, encoder, decoder, injection, tokenizer, lora={"r": 2, "side": "both"}), tokenizer, tmp_path)


@pytest.mark.parametrize("injection", MEMORY_POSITIONS)
@pytest.mark.parametrize("decoder", sorted(DECODERS))
@pytest.mark.parametrize("family", ["ae", "vae", "cvae"])
def test_each_memory_position_injection_without_lora(family, decoder, injection, tokenizer, tmp_path):
    _check_pair(_model(family, "bert", decoder, injection, tokenizer), tokenizer, tmp_path)


@pytest.mark.parametrize("injection", MEMORY_POSITIONS)
def test_a_llama_vae_learns_to_reconstruct_through_its_injection(injection, tokenizer):
    model = _model("vae", "bert", "llama", injection, tokenizer).train()
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
