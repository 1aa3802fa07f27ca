"""textae.metrics.electra: ROC AUC and the report of the encoder-only families, asked by their loss terms."""

from __future__ import annotations

import math

import torch

from tests.conftest import make_batch, tiny_model
from textae.metrics.electra import electra_report, roc_auc


def test_auc_is_one_for_a_perfect_ranking_zero_reversed_and_half_for_ties():
    positive = torch.tensor([False, False, True, True])
    assert roc_auc(torch.tensor([0.1, 0.2, 0.8, 0.9]), positive) == 1.0
    assert roc_auc(torch.tensor([0.9, 0.8, 0.2, 0.1]), positive) == 0.0
    assert roc_auc(torch.ones(4), positive) == 0.5
    assert math.isnan(roc_auc(torch.rand(3), torch.zeros(3, dtype=torch.bool)))


def test_auc_matches_the_pairwise_count():
    g = torch.Generator().manual_seed(0)
    scores, positive = torch.randint(0, 5, (40,), generator=g).float(), torch.rand(40, generator=g) > 0.6
    pos, neg = scores[positive], scores[~positive]
    pairs = (pos[:, None] > neg[None, :]).double() + 0.5 * (pos[:, None] == neg[None, :]).double()
    assert abs(roc_auc(scores, positive) - float(pairs.mean())) < 1e-12


def test_the_report_follows_the_models_loss_terms(tokenizer, corpus):
    batches = lambda m: [make_batch(m, tokenizer, corpus[i : i + 6]) for i in (0, 6)]  # noqa: E731
    mlm = tiny_model("mlm", tokenizer)
    report = electra_report(mlm, batches(mlm))
    assert set(report) == {"masked_tokens", "mlm_accuracy"} and report["masked_tokens"] > 0
    uniform = tiny_model("electra", tokenizer, replacement="uniform")  # no generator: no mlm term
    report = electra_report(uniform, batches(uniform))
    assert "mlm_accuracy" not in report and 0 <= report["rtd_auc"] <= 1
    assert report["tokens_original"] + report["tokens_replaced"] == report["tokens"]
    electra = tiny_model("electra", tokenizer)
    assert {"mlm_accuracy", "rtd_accuracy"} <= set(electra_report(electra, batches(electra)))
