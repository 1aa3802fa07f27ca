"""The Gaussian bottleneck: analytic KL, free bits, reparameterised sampling, the folded BN-VAE head."""

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from textae.modules import GaussianBottleneck, build_bottleneck, free_bits_kl, gaussian_kl
from textae.modules.encoder import EncoderStates


def states(pooled):
    return EncoderStates(states=pooled[:, None], mask=torch.ones(len(pooled), 1), pooled=pooled)


def test_the_analytic_kl_equals_torch_distributions():
    torch.manual_seed(0)
    mean, logvar = torch.randn(4, 3), torch.randn(4, 3)
    expected = kl_divergence(Normal(mean, (0.5 * logvar).exp()), Normal(0.0, 1.0))
    torch.testing.assert_close(gaussian_kl(mean, logvar), expected)


def test_free_bits_give_no_gradient_below_the_floor_and_leave_the_rest_alone():
    kl = torch.tensor([[0.1, 2.0], [0.1, 4.0]], requires_grad=True)
    loss = free_bits_kl(kl, free_bits=0.5)
    assert loss.item() == pytest.approx(0.5 + 3.0)
    loss.backward()
    assert kl.grad[:, 0].tolist() == [0.0, 0.0] and kl.grad[:, 1].tolist() == [0.5, 0.5]


def test_training_samples_and_evaluation_returns_the_mean():
    torch.manual_seed(0)
    bottleneck = build_bottleneck("gaussian", 8, 4)
    assert isinstance(bottleneck, GaussianBottleneck) and bottleneck.loss_terms == ("kl",)
    pooled = torch.randn(3, 8)
    bottleneck.eval()
    out = bottleneck(states(pooled))
    assert torch.equal(out.latent, out.mean)
    assert not torch.equal(bottleneck(states(pooled), sample=True).latent, out.mean)
    bottleneck.train()
    assert torch.equal(bottleneck(states(pooled), sample=False).latent, bottleneck(states(pooled), sample=False).mean)
    assert not torch.equal(bottleneck(states(pooled)).latent, out.mean)
    torch.testing.assert_close(out.losses["kl"], gaussian_kl(out.mean, out.logvar).mean(0).sum())
    torch.testing.assert_close(out.stats["kl_per_sentence"], gaussian_kl(out.mean, out.logvar).sum(1).mean())


def test_logvar_is_clamped_to_its_range():
    bottleneck = GaussianBottleneck(8, 4, logvar_min=-1.0, logvar_max=0.5)
    out = bottleneck(states(torch.randn(5, 8) * 1000))
    assert out.logvar.min() >= -1.0 and out.logvar.max() <= 0.5


def test_the_embedding_head_is_the_posterior_mean_also_with_batchnorm():
    torch.manual_seed(0)
    plain = GaussianBottleneck(8, 4).eval()
    assert plain.embedding_head() is plain.to_mean
    bn = GaussianBottleneck(8, 4, mean_batchnorm=0.6)
    bn.train()
    for _ in range(5):
        bn(states(torch.randn(16, 8)))  # fills the running statistics
    bn.eval()
    pooled = torch.randn(3, 8)
    torch.testing.assert_close(bn.embedding_head()(pooled), bn.posterior_mean(pooled))
    with pytest.raises(ValueError, match=r"mean_batchnorm must be a scale γ > 0 \(or 0 / null for off\), got -1"):
        GaussianBottleneck(8, 4, mean_batchnorm=-1)
