"""The latent-conditioned decoder: each injection alone conditions it; a latent is required."""

import pytest
import torch

from textae.modules import LatentDecoder

SPEC = {"model_type": "gpt2", "n_embd": 16, "n_layer": 1, "n_head": 2, "n_positions": 16}


@pytest.mark.parametrize("memory_slots, embedding", [(3, False), (0, True), (2, True)])
def test_each_injection_alone_conditions_the_decoder(memory_slots, embedding):
    torch.manual_seed(0)
    spec = {"model_type": "gpt2", "n_embd": 16, "n_layer": 1, "n_head": 2, "n_positions": 16}
    dec = LatentDecoder(spec, vocab_size=20, latent_dim=4, memory_slots=memory_slots, inject_embedding=embedding).eval()
    ids = torch.randint(0, 20, (2, 5))
    z = torch.randn(2, 4)
    a = dec(ids, latent=z).logits
    b = dec(ids, latent=z + 1.0).logits
    assert a.shape == (2, 5, 20) and not torch.allclose(a, b)
    if memory_slots:
        assert dec.memory(z).shape == (2, memory_slots, 16)
    with pytest.raises(ValueError, match="conditioned on a latent"):
        dec(ids)


def test_per_position_latent_maps_each_position_to_a_memory_slot():
    spec = {"model_type": "gpt2", "n_embd": 16, "n_layer": 1, "n_head": 2, "n_positions": 16}
    dec = LatentDecoder(spec, vocab_size=20, latent_dim=4, memory_slots=1, per_position_latent=True)
    assert dec.memory(torch.randn(2, 7, 4)).shape == (2, 7, 16)


def test_the_decoder_is_causal_a_later_token_never_changes_earlier_logits():
    torch.manual_seed(0)
    dec = LatentDecoder(SPEC, vocab_size=20, latent_dim=4, memory_slots=2, inject_embedding=True).eval()
    ids, z = torch.randint(0, 20, (1, 6)), torch.randn(1, 4)
    changed = ids.clone()
    changed[0, -1] = (ids[0, -1] + 1) % 20
    a, b = dec(ids, latent=z).logits, dec(changed, latent=z).logits
    torch.testing.assert_close(a[:, :-1], b[:, :-1])


def test_a_decoder_that_ignores_the_latent_says_so():
    dec = LatentDecoder(SPEC, vocab_size=20, latent_dim=4, memory_slots=0, inject_embedding=False)
    assert not dec.uses_latent and dec.memory(torch.randn(2, 4)) is None


def test_the_default_generation_length_stays_inside_the_decoders_position_table(tokenizer):
    from tests.conftest import tiny_model

    # max_seq_length 64 + EOS would need 66 positions with BOS; the tiny GPT-2 has 64
    model = tiny_model("vq", tokenizer).eval()
    assert model.decoder.positions_left() == 63 and model._longest_generation() == 63
    assert len(model.decode(torch.randn(2, *model.encode(["a dog ran"]).shape[1:]))) == 2  # no IndexError at the table's end
    prefix = tiny_model("ae", tokenizer, latent_injection="prefix")
    assert prefix.decoder.positions_left() == 64 - 1 - 2  # BOS and the two prefix slots
    llama = {"model_type": "llama", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": len(tokenizer)}
    assert tiny_model("ae", tokenizer, decoder_config=llama, latent_injection="past_key_values").decoder.positions_left() is None  # rotary: no table
