import math

import pytest
import torch

from tests.conftest import make_batch, tiny_model
from textae.metrics.vae import active_units, gaussian_log_density, importance_weighted, mutual_information, vae_report
from textae.modules import free_bits_kl, gaussian_kl


def test_kl_is_exactly_zero_at_the_prior_and_positive_elsewhere():
    zeros = torch.zeros(3, 5)
    assert torch.equal(gaussian_kl(zeros, zeros), zeros)
    assert (gaussian_kl(torch.ones(3, 5), torch.full((3, 5), -1.0)) > 0).all()
    # closed form at μ=1, logσ²=0: 0.5
    assert gaussian_kl(torch.ones(1, 1), torch.zeros(1, 1)).item() == pytest.approx(0.5)


def test_free_bits_keep_kl_above_the_threshold_and_stop_gradient_below():
    mean = torch.tensor([[3.0, 0.1]], requires_grad=True)
    logvar = torch.zeros(1, 2, requires_grad=True)
    kl = gaussian_kl(mean, logvar)  # dim 0: 4.5 nats, dim 1: 0.005 nats
    loss = free_bits_kl(kl, free_bits=0.5)
    assert loss.item() == pytest.approx(4.5 + 0.5)
    loss.backward()
    assert mean.grad[0, 0].item() == pytest.approx(3.0)  # d(0.5 μ²)/dμ, untouched above λ
    assert mean.grad[0, 1].item() == 0.0  # below λ: a constant, no gradient
    assert free_bits_kl(kl, 0.0).item() == pytest.approx(kl.sum().item())


def test_active_units_count_a_constructed_case():
    torch.manual_seed(0)
    means = torch.zeros(200, 4)
    means[:, 0] = torch.randn(200)  # variance ≈ 1 → active
    means[:, 1] = 0.05 * torch.randn(200)  # variance ≈ 0.0025 → inactive
    means[:, 3] = torch.linspace(-0.5, 0.5, 200)  # variance ≈ 0.084 → active
    count, variances = active_units(means)
    assert count == 2 and variances[2] == 0.0


def test_mutual_information_is_zero_when_posteriors_coincide_and_large_when_separated():
    # single-sample Monte Carlo: zero in expectation, std ≈ 1/√N here
    same = mutual_information(torch.zeros(2000, 2), torch.zeros(2000, 2), torch.Generator().manual_seed(0))
    assert abs(same) < 0.1
    apart = torch.repeat_interleave(torch.tensor([[-10.0, 0.0], [10.0, 0.0]]), 150, dim=0)
    mi = mutual_information(apart, torch.full((300, 2), -4.0), torch.Generator().manual_seed(0))
    assert mi == pytest.approx(math.log(2), abs=0.05)  # z tells which of 2 equally likely groups


def test_gaussian_log_density_matches_torch():
    z, m, lv = torch.randn(4, 3), torch.randn(4, 3), torch.randn(4, 3)
    expected = torch.distributions.Normal(m, (0.5 * lv).exp()).log_prob(z).sum(-1)
    torch.testing.assert_close(gaussian_log_density(z, m, lv), expected)


def test_iw_nll_is_at_most_minus_elbo_on_a_batch(tokenizer, corpus):
    model = tiny_model("vae", tokenizer).eval()
    batch = make_batch(model, tokenizer, corpus[:6])
    out = importance_weighted(model, batch, k=20, generator=torch.Generator().manual_seed(0))
    assert (out["iw_log_likelihood"] >= out["elbo_same_samples"] - 1e-9).all()
    assert -out["iw_log_likelihood"].mean() <= -out["elbo"].mean() + 0.05  # analytic-KL ELBO, up to MC noise


def test_vae_report_fields(tokenizer, corpus):
    model = tiny_model("vae", tokenizer)
    batches = [make_batch(model, tokenizer, corpus[i : i + 8]) for i in range(0, 24, 8)]
    report = vae_report(model, batches, k=5)
    assert report["sentences"] == 24 and report["iw_samples"] == 5 and 0 <= report["active_units"] <= report["latent_dim"]
    assert report["iw_nll_per_sentence"] <= report["neg_elbo_per_sentence"] + 0.5
    assert math.isclose(report["ppl_iw"], math.exp(report["iw_nll_per_sentence"] * 24 / report["tokens"]), rel_tol=1e-9)
