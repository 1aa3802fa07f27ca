"""Label conditioning of the CVAE: one label embedding on the encoder and the decoder side, a detached probe."""

import pytest
import torch

from textae.modules.conditioning import LabelConditioning
from textae.modules.encoder import EncoderStates


def encoded(batch=2, hidden=8):
    return EncoderStates(states=torch.randn(batch, 3, hidden), mask=torch.ones(batch, 3), pooled=torch.randn(batch, hidden))


def test_the_encoder_side_adds_the_projected_embedding_to_the_pooled_state_only():
    torch.manual_seed(0)
    cond = LabelConditioning(num_labels=3, label_dim=4, hidden_size=8)
    enc, labels = encoded(), torch.tensor([0, 2])
    out = cond.condition_encoder(enc, labels)
    torch.testing.assert_close(out.pooled - enc.pooled, cond.to_pooled(cond.embedding(labels)))
    assert out.states is enc.states and out.mask is enc.mask


def test_the_decoder_side_joins_z_and_the_label_embedding():
    cond = LabelConditioning(num_labels=3, label_dim=4, hidden_size=8)
    z, labels = torch.randn(2, 5), torch.tensor([1, 1])
    joined = cond.condition_latent(z, labels)
    assert joined.shape == (2, 9) and torch.equal(joined[:, :5], z)
    assert torch.equal(joined[0, 5:], joined[1, 5:])  # the same label, the same embedding
    with pytest.raises(ValueError, match=r"joins the label to a \[B, d\] latent, got shape \(2, 3, 5\)"):
        cond.condition_latent(torch.randn(2, 3, 5), labels)
    with pytest.raises(ValueError, match=r"class_label must be \[B\] label ids, got shape \(2, 1\)"):
        cond.condition_latent(z, labels[:, None])


def test_the_probe_learns_from_a_detached_state_and_reports_its_accuracy():
    torch.manual_seed(0)
    cond = LabelConditioning(num_labels=3, label_dim=4, hidden_size=8)
    assert cond.loss_terms == ("label",)
    pooled = torch.randn(4, 8, requires_grad=True)
    labels = torch.tensor([0, 1, 2, 0])
    losses, stats = cond.losses(pooled, labels)
    losses["label"].backward()
    assert pooled.grad is None and cond.classifier.weight.grad is not None  # it never shapes the encoder
    predicted = cond.predict(pooled)
    assert stats["label_accuracy"].item() == pytest.approx((predicted == labels).float().mean().item())


def test_without_a_probe_there_is_no_loss_and_predict_asks_for_labels():
    cond = LabelConditioning(num_labels=2, label_dim=2, hidden_size=8, classifier=False)
    assert cond.loss_terms == () and cond.losses(torch.randn(2, 8), torch.tensor([0, 1])) == ({}, {})
    with pytest.raises(ValueError, match=r"no label classifier \(label_classifier=False\): give the source labels"):
        cond.predict(torch.randn(2, 8))


@pytest.mark.parametrize("num_labels, label_dim", [(0, 4), (3, 0)])
def test_empty_label_sets_or_embeddings_are_refused(num_labels, label_dim):
    with pytest.raises(ValueError, match=f"needs num_labels ≥ 1 and label_dim ≥ 1, got {num_labels} and {label_dim}"):
        LabelConditioning(num_labels, label_dim, 8)


def test_the_adversary_learns_from_detached_means_and_the_confusion_moves_only_the_means():
    torch.manual_seed(0)
    cond = LabelConditioning(num_labels=2, label_dim=4, hidden_size=8, classifier=False, adversary_latent_dim=5)
    assert cond.loss_terms == ("label_adversary", "label_confusion")
    mean, labels = torch.randn(6, 5, requires_grad=True), torch.tensor([0, 1, 0, 1, 1, 0])
    losses, stats = cond.losses(torch.randn(6, 8), labels, latent_mean=mean)
    losses["label_adversary"].backward(retain_graph=True)
    assert mean.grad is None and all(p.grad is not None for p in cond.adversary.parameters())
    cond.zero_grad(set_to_none=True)
    losses["label_confusion"].backward()
    assert mean.grad.abs().sum() > 0 and all(p.grad is None for p in cond.adversary.parameters())
    assert 0.0 <= float(stats["label_adversary_accuracy"]) <= 1.0
    with pytest.raises(ValueError, match=r"reads the posterior mean: pass latent_mean"):
        cond.losses(torch.randn(6, 8), labels)


def test_the_confusion_is_zero_at_a_uniform_prediction_and_positive_otherwise():
    cond = LabelConditioning(num_labels=3, label_dim=2, hidden_size=8, adversary_latent_dim=4)
    labels = torch.tensor([0, 1, 2, 0])
    confident = cond.adversary_losses(torch.randn(4, 4) * 10, labels)["label_confusion"]
    torch.nn.init.zeros_(cond.adversary[-1].weight), torch.nn.init.zeros_(cond.adversary[-1].bias)
    uniform = cond.adversary_losses(torch.randn(4, 4), labels)["label_confusion"]
    assert float(uniform) == pytest.approx(0.0, abs=1e-6) and float(confident) > 0.0


def _probe_accuracy(points: torch.Tensor, labels: torch.Tensor, steps: int = 300) -> float:
    """A fresh logistic regression fitted on ``points`` [N, d]: its training accuracy."""
    torch.manual_seed(1)
    probe = torch.nn.Linear(points.shape[1], 2)
    opt = torch.optim.Adam(probe.parameters(), lr=0.05)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(probe(points), labels).backward()
        opt.step()
    return float((probe(points).argmax(-1) == labels).float().mean())


@pytest.mark.parametrize("confusion_weight", [0.0, 1.0])
def test_adversary_and_confusion_together_take_the_label_out_of_the_means(confusion_weight):
    """Means that start with the label in one coordinate: trained against the adversary, a fresh probe
    reads the label far less well (0.55-0.84 over seeds 0-5, against 1.0); without the confusion term it stays perfectly readable."""
    torch.manual_seed(0)
    labels = torch.arange(128) % 2
    mean = torch.nn.Parameter(torch.randn(128, 4) * 0.3 + torch.nn.functional.one_hot(labels, 4).float() * 2)
    cond = LabelConditioning(num_labels=2, label_dim=2, hidden_size=8, classifier=False, adversary_latent_dim=4)
    opt = torch.optim.Adam([mean, *cond.parameters()], lr=0.02)
    for _ in range(800):
        opt.zero_grad()
        losses = cond.adversary_losses(mean, labels)
        (losses["label_adversary"] + confusion_weight * losses["label_confusion"]).backward()
        opt.step()
    accuracy = _probe_accuracy(mean.detach(), labels)
    assert accuracy <= 0.85 if confusion_weight else accuracy == 1.0
