"""The family protocol: declared operations are real, offers/require say what is missing, batch specs
and token predictions are aligned."""

from __future__ import annotations

import pytest
import torch

import textae
from tests.conftest import make_batch, tiny_model
from textae import export
from textae.models import protocol
from textae.models.protocol import BatchSpec, FamilyProtocol, UnsupportedOperation
from textae.tensors import IGNORE_INDEX

FAMILIES = sorted(textae.FAMILIES)
DECODER_FAMILIES = ("ae", "cvae", "dae", "lm", "vae", "vq")  # a decoder reads [BOS] x and predicts x [EOS]
ALL_OPERATIONS = {v for k, v in vars(protocol).items() if k.isupper() and isinstance(v, str)}


@pytest.mark.parametrize("family", FAMILIES)
def test_every_declared_operation_is_something_the_family_really_has(family):
    model_cls = textae.FAMILIES[family][1]
    assert issubclass(model_cls, FamilyProtocol)
    assert model_cls.operations <= ALL_OPERATIONS, model_cls.operations - ALL_OPERATIONS
    for op in model_cls.operations:
        if op == protocol.EXPORT_SENTENCE_TRANSFORMERS:  # served by textae.export, which asks offers()
            assert callable(export.export_sentence_transformers)
        else:
            assert callable(getattr(model_cls, op, None)), f"{model_cls.__name__} declares {op} but has no such method"


@pytest.mark.parametrize("family", FAMILIES)
def test_require_names_the_family_and_what_it_does_offer(family, tokenizer):
    model = tiny_model(family, tokenizer)
    for op in model.operations:
        if model.offers(op):
            assert model.require(op) is None
    missing = sorted(ALL_OPERATIONS - model.operations)
    if not missing:
        pytest.skip("offers every operation")
    offered = ", ".join(sorted(op for op in model.operations if model.offers(op))) or "none"
    with pytest.raises(UnsupportedOperation, match=f"^{type(model).__name__} does not offer {missing[0]} \\(it offers: {offered}\\); try another$"):
        model.require(missing[0], hint="try another")
    assert not model.offers(missing[0])
    assert issubclass(UnsupportedOperation, ValueError)


def test_a_vq_model_declares_sampling_but_offers_it_only_with_a_prior(tokenizer):
    model = tiny_model("vq", tokenizer)
    assert protocol.SAMPLE in model.operations and model.prior is None and not model.offers(protocol.SAMPLE)
    with pytest.raises(UnsupportedOperation, match=r"TextVQVAE does not offer sample \(it offers: attach_prior, encode, encode_codes,"):
        model.require(protocol.SAMPLE)


@pytest.mark.parametrize("family", FAMILIES)
def test_the_batch_spec_repeats_the_family_declarations(family, tokenizer):
    model = tiny_model(family, tokenizer)
    spec = model.batch_spec()
    assert isinstance(spec, BatchSpec)
    assert spec.format == model.batch_format in ("autoencoder", "lm")
    assert spec.condition_keys == model.condition_keys
    assert spec.condition_keys == (("class_label",) if family == "cvae" else ())
    if family in DECODER_FAMILIES:
        assert spec.format == ("lm" if family == "lm" else "autoencoder")


def test_the_default_batch_spec_is_a_plain_autoencoder():
    assert FamilyProtocol().batch_spec() == BatchSpec(format="autoencoder", condition_keys=())
    assert FamilyProtocol().extra_metrics(None) == {}


@pytest.mark.parametrize("family", DECODER_FAMILIES)
def test_token_predictions_align_logits_with_targets(family, tokenizer, corpus):
    model = tiny_model(family, tokenizer).eval()
    batch = make_batch(model, tokenizer, corpus[:3])
    with torch.no_grad():
        out = model(**batch)
    logits, targets = model.token_predictions(out, batch)
    assert logits.shape[:2] == targets.shape and logits.shape[-1] == model.config.vocab_size
    assert torch.equal(targets, batch["labels"][:, 1:])  # each position predicts the next token
    assert ((targets != IGNORE_INDEX).sum(1) == (batch["labels"] != IGNORE_INDEX).sum(1) - 1).all()


def test_a_detector_has_no_token_likelihood(tokenizer, corpus):
    model = tiny_model("electra", tokenizer).eval()
    batch = make_batch(model, tokenizer, corpus[:2])
    with torch.no_grad():
        out = model(**batch)
    assert model.token_predictions(out, batch) is None


def test_report_lines_print_the_eval_figures_and_reconstructions():
    metrics = {
        "eval": {"loss": 1.5, "nll_per_sentence": 12.25, "ppl": 3.5},
        "token_unit": "tokens",
        "reconstruction": {"exact_match": 0.5, "token_accuracy": 0.75, "bleu": 42.0, "examples": [{"input": "a b", "output": "a c"}]},
    }
    lines = FamilyProtocol().report_lines(metrics)
    assert lines[0] == "eval: loss 1.5000, NLL/sentence 12.250 nats, PPL 3.500 (tokens)"
    assert lines[1] == "reconstruction: exact match 50.00%, token accuracy 75.00%, BLEU 42.0"
    assert lines[2] == "  in : a b\n  out: a c"
    assert FamilyProtocol().report_lines({"eval": {"loss": 0.25}}) == ["eval: loss 0.2500"]
