"""Evaluation over a dataset: the teacher-forced figures' identities, the exact reference, reconstructions."""

from __future__ import annotations

import math

import pytest
import torch

from tests.conftest import make_batch, overfit, tiny_model
from textae.data import synthetic_dataset
from textae.metrics.evaluation import exact_reference, reconstruction_scores, teacher_forced
from textae.tensors import IGNORE_INDEX


def batches(model, tokenizer, texts, size=3):
    return [make_batch(model, tokenizer, texts[i : i + size]) for i in range(0, len(texts), size)]


@pytest.mark.parametrize("family", ["lm", "ae", "vae"])
def test_ppl_is_exp_of_nll_per_token_and_tokens_are_the_real_targets(family, tokenizer, corpus):
    model = tiny_model(family, tokenizer)
    loader = batches(model, tokenizer, list(corpus[:8]))
    result = teacher_forced(model, loader)
    assert result["ppl"] == pytest.approx(math.exp(result["nll_per_token"]), rel=1e-12)
    assert result["sentences"] == 8
    assert result["tokens"] == sum(int((b["labels"][:, 1:] != IGNORE_INDEX).sum()) for b in loader)
    assert result["nll_per_sentence"] == pytest.approx(result["nll_per_token"] * result["tokens"] / 8, rel=1e-9)
    assert 0.0 <= result["next_token_accuracy"] <= 1.0
    assert model.training  # eval mode is undone afterwards


def test_the_figures_do_not_depend_on_how_the_data_is_batched(tokenizer, corpus):
    model = tiny_model("lm", tokenizer)
    texts = list(corpus[:6])
    by_three = teacher_forced(model, batches(model, tokenizer, texts, 3))
    by_two = teacher_forced(model, batches(model, tokenizer, texts, 2))
    # token sums are exact whatever the batching (the loss terms are batch means, weighted by sentences)
    for key in ("nll_per_sentence", "ppl", "next_token_accuracy", "tokens", "sentences"):
        assert by_two[key] == pytest.approx(by_three[key], rel=1e-5), key


def test_max_batches_stops_early_and_empty_data_is_named(tokenizer, corpus):
    model = tiny_model("ae", tokenizer)
    loader = batches(model, tokenizer, list(corpus[:9]))
    assert teacher_forced(model, loader, max_batches=1)["sentences"] == 3
    with pytest.raises(ValueError, match="evaluation data is empty"):
        teacher_forced(model, [])


def test_a_detector_reports_its_stats_per_sentence_and_no_ppl(tokenizer, corpus):
    model = tiny_model("electra", tokenizer)
    result = teacher_forced(model, batches(model, tokenizer, list(corpus[:4]), 2))
    assert "ppl" not in result and "tokens" not in result
    assert result["sentences"] == 4 and math.isfinite(result["loss"])


def test_the_exact_reference_needs_logprobs_and_compares_against_them():
    data = synthetic_dataset(10, seed=0, split="validation")
    exact = -sum(data["logprob"]) / 10
    ref = exact_reference(data, 2 * exact)
    assert ref["exact_nll_per_sentence"] == pytest.approx(exact) and exact > 0
    assert ref["model_over_exact"] == pytest.approx(1.0)
    assert ref["grammar_entropy"] > 0
    assert exact_reference(data.remove_columns("logprob"), 1.0) is None


def test_reconstruction_scores_of_a_model_that_learned_its_sentences(tokenizer, corpus):
    model = tiny_model("ae", tokenizer)
    texts = list(corpus[:4])
    overfit(model, make_batch(model, tokenizer, texts), 80)
    scores = reconstruction_scores(model, texts, batch_size=2, examples=3)
    outputs = model.reconstruct(texts)
    assert [ex["input"] for ex in scores["examples"]] == texts[:3]
    assert [ex["output"] for ex in scores["examples"]] == outputs[:3]
    refs = [tokenizer.decode(tokenizer(t, add_special_tokens=False)["input_ids"], skip_special_tokens=True) for t in texts]
    assert scores["exact_match"] == pytest.approx(sum(o == r for o, r in zip(outputs, refs)) / 4)
    assert 0.0 <= scores["token_accuracy"] <= 1.0 and 0.0 <= scores["bleu"] <= 100.0
    if scores["exact_match"] == 1.0:
        assert scores["token_accuracy"] == 1.0 and scores["bleu"] == pytest.approx(100.0)
