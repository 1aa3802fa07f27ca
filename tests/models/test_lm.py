"""The language-model baseline: one token row, score = teacher-forced NLL, samples, the exact reference."""

from __future__ import annotations

import pytest
import torch

from tests.conftest import make_batch, tiny_model
from textae.data import synthetic_dataset
from textae.models import protocol
from textae.tensors import IGNORE_INDEX


@pytest.fixture(scope="module")
def lm(tokenizer):
    return tiny_model("lm", tokenizer).eval()


def test_the_lm_declares_an_lm_batch_and_offers_sample_and_score(lm):
    assert lm.batch_format == "lm" and lm.batch_spec().format == "lm"
    assert lm.operations == {protocol.SAMPLE, protocol.SCORE}
    with pytest.raises(protocol.UnsupportedOperation, match=r"TextLM does not offer reconstruct \(it offers: sample, score\)"):
        lm.require(protocol.RECONSTRUCT)


def test_token_predictions_drop_the_last_position(lm, tokenizer, corpus):
    batch = make_batch(lm, tokenizer, corpus[:3])
    with torch.no_grad():
        out = lm(**batch)
    logits, targets = lm.token_predictions(out, batch)
    assert out.logits.shape[1] == batch["labels"].shape[1]
    assert logits.shape[:2] == targets.shape == (3, batch["labels"].shape[1] - 1)
    assert torch.equal(logits, out.logits[:, :-1])


def test_score_is_the_summed_nll_of_each_sentence_and_ignores_batching(lm, tokenizer, corpus):
    texts = list(corpus[:5])
    scores = lm.score(texts)
    assert scores.shape == (5,) and (scores > 0).all()
    torch.testing.assert_close(lm.score(texts, batch_size=2), scores)
    batch = make_batch(lm, tokenizer, texts)
    with torch.no_grad():
        logits, targets = lm.token_predictions(lm(**batch), batch)
    nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), targets, ignore_index=IGNORE_INDEX, reduction="none").sum(1)
    torch.testing.assert_close(scores, nll.float(), rtol=1e-4, atol=1e-4)


def test_sample_checks_its_arguments_and_gives_n_texts(lm):
    torch.manual_seed(0)
    texts = lm.sample(3, max_new_tokens=6)
    assert len(texts) == 3 and all(isinstance(t, str) for t in texts)
    with pytest.raises(ValueError, match="n must be ≥ 1"):
        lm.sample(0)
    with pytest.raises(ValueError, match="top_p must be in"):
        lm.sample(1, top_p=2.0)


def test_the_report_adds_the_exact_reference_only_with_logprobs(lm):
    eval_data = synthetic_dataset(8, seed=0, split="validation")
    with_ref = lm.evaluation_report([], [], {"nll_per_sentence": 30.0}, eval_data=eval_data)
    ref = with_ref["exact_reference"]
    assert ref["model_over_exact"] == pytest.approx(30.0 / ref["exact_nll_per_sentence"] - 1.0)
    line = lm.metric_lines({"exact_reference": ref})[0]
    assert f"{ref['exact_nll_per_sentence']:.3f} nats" in line and "above it" in line
    assert "exact_reference" not in lm.evaluation_report([], [], {"nll_per_sentence": 30.0}, eval_data=eval_data.remove_columns("logprob"))
    assert lm.metric_lines({}) == []
