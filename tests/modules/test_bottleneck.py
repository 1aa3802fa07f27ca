"""The bottleneck registry and the identity bottleneck of the plain autoencoder."""

import pytest
import torch

from textae.modules import BOTTLENECKS, Bottleneck, BottleneckOutput, IdentityBottleneck, build_bottleneck, register_bottleneck
from textae.modules.encoder import EncoderStates


def test_identity_bottleneck_and_registry_errors():
    bottleneck = build_bottleneck("identity", hidden_size=8, latent_dim=4)
    enc = EncoderStates(states=torch.randn(2, 3, 8), mask=torch.ones(2, 3), pooled=torch.randn(2, 8))
    out = bottleneck(enc)
    assert isinstance(out, BottleneckOutput) and out.latent.shape == (2, 4) and out.losses == {}
    with pytest.raises(ValueError, match="unknown bottleneck 'gaussian-ish'"):
        build_bottleneck("gaussian-ish", 8, 4)
    with pytest.raises(TypeError, match="unknown options"):
        build_bottleneck("identity", 8, 4, {"beta": 1})


def states(pooled):
    return EncoderStates(states=pooled[:, None], mask=torch.ones(len(pooled), 1), pooled=pooled)


def test_the_identity_latent_is_its_linear_head_applied_to_the_pooled_state():
    torch.manual_seed(0)
    bottleneck = IdentityBottleneck(8, 4)
    pooled = torch.randn(3, 8)
    out = bottleneck(states(pooled))
    torch.testing.assert_close(out.latent, bottleneck.embedding_head()(pooled))
    assert out.latent_mask is None and out.mean is None and out.logvar is None
    torch.testing.assert_close(out.stats["latent_norm"], out.latent.norm(dim=-1).mean())


def test_without_projection_the_latent_is_the_pooled_state_itself():
    pooled = torch.randn(2, 8)
    bottleneck = IdentityBottleneck(8, 8, project=False)
    assert torch.equal(bottleneck(states(pooled)).latent, pooled) and bottleneck.embedding_head() is None
    with pytest.raises(ValueError, match=r"needs latent_dim == the encoder's hidden size \(8\), got 4"):
        IdentityBottleneck(8, 4, project=False)


def test_a_registered_bottleneck_is_built_by_name_and_the_base_names_what_it_lacks():
    class Halve(Bottleneck):
        def forward(self, encoded, sample=None):
            return BottleneckOutput(latent=encoded.pooled[:, : self.latent_dim] / 2)

    register_bottleneck("halve-test", Halve)
    try:
        built = build_bottleneck("halve-test", 4, 2)
        assert isinstance(built, Halve) and built.latent_dim == 2 and built.hidden_size == 4
        assert built(states(torch.ones(1, 4))).latent.tolist() == [[0.5, 0.5]]
        with pytest.raises(NotImplementedError, match="Halve has no linear sentence-embedding head"):
            built.embedding_head()
        with pytest.raises(ValueError, match=r"registered: \[.*'halve-test'.*\]"):
            build_bottleneck("nope", 4, 2)
    finally:
        del BOTTLENECKS["halve-test"]
    assert {"identity", "gaussian", "vq"} <= set(BOTTLENECKS)
