"""The plain sentence autoencoder: an identity bottleneck on the shared core."""

from __future__ import annotations

import torch

from tests.conftest import make_batch, tiny_model
from textae import TextAE, TextAEConfig
from textae.models import protocol
from textae.models.dae import ConsistencyMixin


def test_the_ae_is_the_core_with_an_identity_bottleneck(tokenizer):
    model = tiny_model("ae", tokenizer)
    assert isinstance(model, TextAE) and isinstance(model, ConsistencyMixin)
    assert TextAEConfig.model_type == "textae_ae" and model.config.bottleneck == "identity"
    assert model.operations == {protocol.ENCODE, protocol.RECONSTRUCT, protocol.EXPORT_SENTENCE_TRANSFORMERS}


def test_the_latent_is_deterministic_and_has_no_bottleneck_loss(tokenizer, corpus):
    model = tiny_model("ae", tokenizer).eval()
    batch = make_batch(model, tokenizer, corpus[:4])
    with torch.no_grad():
        a, b = model(**batch), model(**batch)
    assert torch.equal(a.latent, b.latent) and a.latent.shape == (4, model.config.latent_dim)
    assert set(a.loss_terms) == {"reconstruction"}
    torch.testing.assert_close(a.loss, a.loss_terms["reconstruction"])


def test_encode_gives_the_forward_latent(tokenizer, corpus):
    model = tiny_model("ae", tokenizer).eval()
    texts = list(corpus[:3])
    batch = make_batch(model, tokenizer, texts)
    with torch.no_grad():
        latent = model(**batch).latent
    torch.testing.assert_close(model.encode(texts), latent)
