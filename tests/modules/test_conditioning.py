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
