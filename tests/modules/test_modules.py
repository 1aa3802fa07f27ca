import pytest
import torch

from textae.modules import BottleneckOutput, LatentDecoder, Pooling, build_bottleneck
from textae.modules.encoder import EncoderStates


def test_pooling_ignores_padding():
    states = torch.tensor([[[1.0, 1.0], [3.0, 3.0], [100.0, 100.0]]])
    mask = torch.tensor([[1, 1, 0]])
    assert Pooling("mean", 2)(states, mask).tolist() == [[2.0, 2.0]]
    assert Pooling("cls", 2)(states, mask).tolist() == [[1.0, 1.0]]
    att = Pooling("attention", 2)
    pooled = att(states, mask)
    assert 1.0 <= pooled[0, 0].item() <= 3.0  # a convex mix of the real tokens only
    with pytest.raises(ValueError, match="unknown pooling"):
        Pooling("max", 2)


def test_identity_bottleneck_and_registry_errors():
    bottleneck = build_bottleneck("identity", hidden_size=8, latent_dim=4)
    enc = EncoderStates(states=torch.randn(2, 3, 8), mask=torch.ones(2, 3), pooled=torch.randn(2, 8))
    out = bottleneck(enc)
    assert isinstance(out, BottleneckOutput) and out.latent.shape == (2, 4) and out.losses == {}
    with pytest.raises(ValueError, match="unknown bottleneck 'gaussian-ish'"):
        build_bottleneck("gaussian-ish", 8, 4)
    with pytest.raises(TypeError, match="unknown options"):
        build_bottleneck("identity", 8, 4, {"beta": 1})


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
