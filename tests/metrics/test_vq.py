"""textae.metrics.vq: codebook usage, the rate in bits and the report over a VQ model's codes."""

from __future__ import annotations

import math

import pytest
import torch

from tests.conftest import make_batch, tiny_model
from textae.metrics.vq import code_counts, rate_report, usage_report, vq_report


def test_usage_counts_used_and_dead_codes_and_the_perplexity_of_uniform_use_is_k():
    report = usage_report(torch.tensor([[5, 5, 5, 5], [7, 0, 0, 0]]))
    assert report["codes_total"] == 8 and report["dead_codes"] == 3
    assert report["codes_used"] == pytest.approx(5 / 8)
    assert report["codebook_perplexity_per_group"] == pytest.approx([4.0, 1.0])
    assert report["codebook_perplexity"] == pytest.approx(2.5)


def test_the_rate_is_groups_times_log2_k_bits_per_position():
    r = rate_report(groups=2, codebook_size=16, sentences=4, positions=8, tokens=40, tokenizer_vocab=1024)
    assert r["bits_per_position"] == 8.0
    assert r["bits_per_sentence"] == 8 * 8 / 4 and r["bits_per_token"] == 8 * 8 / 40
    assert r["codes_per_sentence"] == 4.0 and r["tokens_per_code"] == 40 / 16
    assert r["compression_vs_tokenizer_bits"] == pytest.approx(40 * math.log2(1024) / 64)


def test_every_real_position_counts_once_per_group(tokenizer, corpus):
    model = tiny_model("vq", tokenizer)
    batches = [make_batch(model, tokenizer, corpus[i : i + 4]) for i in (0, 4)]
    found = code_counts(model, batches)
    assert found["sentences"] == 8 and model.training  # eval mode is restored
    assert (found["counts"].sum(-1) == found["positions"]).all()
    eos = 8
    assert found["tokens"] == sum(int((b["labels"][:, 1:] != -100).sum()) for b in batches) - eos
    report = vq_report(model, batches, max_batches=1)
    assert report["sentences"] == 4 and sum(map(sum, report["code_counts"])) == report["groups"] * round(report["codes_per_sentence"] * 4 / report["groups"])
