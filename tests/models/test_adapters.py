"""LoRA on the encoder and/or the decoder, and frozen backbones: only the intended parameters
train, the adapters save and load with the model, and pretrained weights load under them."""

import pytest
import torch
from transformers import AutoModel

from tests.conftest import TINY_ENCODER, make_batch, tiny_model
from tests.modules.test_injection import DECODERS
from textae.models.adapters import backbones, fit_to_adapters, trainable_parameters

TEXTS = ["the cat sat on the mat", "a dog ran", "the bird sang a song"]


def _trainable(model) -> set[str]:
    return {name for name, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("side", ["encoder", "decoder", "both"])
@pytest.mark.parametrize("decoder", ["gpt2", "llama"])
def test_lora_trains_only_the_adapters_of_its_side_and_the_new_parts(side, decoder, tokenizer):
    injection = "cross_attention" if decoder == "gpt2" else "past_key_values"
    spec = {**DECODERS[decoder], "vocab_size": len(tokenizer)}
    model = tiny_model("vae", tokenizer, decoder_config=spec, latent_injection=injection, lora={"r": 2, "side": side})
    trainable = _trainable(model)
    for part, module in backbones(model).items():
        prefix = "encoder.model." if part == "encoder" else "decoder.lm."
        own = {f"{prefix}{n}" for n, _ in module.named_parameters()}
        adapted = part == side or side == "both"
        assert any("lora_" in n for n in own) == adapted
        if adapted:
            assert {n for n in own if n in trainable} == {n for n in own if "lora_" in n}  # only the adapters
        else:
            assert own <= trainable  # the other backbone trains in full
    assert {"decoder.kv_memory.weight" if injection == "past_key_values" else "decoder.to_memory.weight", "bottleneck.to_mean.weight"} & trainable


def test_frozen_backbones_leave_only_the_new_parts_and_adapters_training(tokenizer, tmp_path):
    spec = {**DECODERS["qwen2"], "vocab_size": len(tokenizer)}
    model = tiny_model("cvae", tokenizer, decoder_config=spec, latent_injection="prefix", freeze_backbones=True, lora={"r": 2, "side": "decoder"})
    trainable = _trainable(model)
    assert not any(n.startswith("encoder.model.") for n in trainable)
    assert {n for n in trainable if n.startswith("decoder.lm.")} == {n for n, _ in model.named_parameters() if n.startswith("decoder.lm.") and "lora_" in n}
    assert any(n.startswith("conditioning.") for n in trainable) and "decoder.prefix.weight" in trainable
    n_train, n_all = trainable_parameters(model)
    assert 0 < n_train < n_all

    # a few updates move the adapters and the new parts, never a frozen weight
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    batch = make_batch(model, tokenizer, TEXTS)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model.train()
    for _ in range(3):
        model(**batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    assert all(torch.equal(p, frozen[n]) for n, p in model.named_parameters() if n in frozen)

    # the adapters save and load with the model
    model.eval().save_pretrained(tmp_path)
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    assert _trainable(loaded) == trainable
    with torch.no_grad():
        torch.testing.assert_close(loaded(**batch).logits, model(**batch).logits, rtol=1e-5, atol=1e-6)


def test_pretrained_weights_load_under_the_lora_wrapped_layers(tokenizer, tmp_path):
    source = tiny_model("ae", tokenizer)
    source.encoder.model.save_pretrained(tmp_path / "encoder")
    target = tiny_model("ae", tokenizer, lora={"r": 2, "side": "encoder"})
    weights = source.encoder.model.state_dict()
    fitted = fit_to_adapters(weights, target.encoder.model)
    missing, unexpected = target.encoder.model.load_state_dict(fitted, strict=False)
    assert not unexpected and all("lora_" in k for k in missing)
    query = "encoder.layer.0.attention.self.query"
    assert torch.equal(target.encoder.model.state_dict()[f"{query}.base_layer.weight"], weights[f"{query}.weight"])


def test_bad_lora_settings_name_the_problem(tokenizer):
    with pytest.raises(ValueError, match="model.lora has unknown keys \\['rank'\\]"):
        tiny_model("ae", tokenizer, lora={"rank": 4})
    with pytest.raises(ValueError, match="model.lora.side must be one of"):
        tiny_model("ae", tokenizer, lora={"side": "middle"})
    with pytest.raises(ValueError, match="no default LoRA target modules for a megatron-bert model"):
        tiny_model("ae", tokenizer, encoder_config={"model_type": "megatron-bert", "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64}, lora={"side": "encoder"})
