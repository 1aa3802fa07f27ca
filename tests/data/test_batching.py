"""Random batches: token budgets, packed rows, and the packed LM's isolation of sentences."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.conftest import tiny_model
from textae.data import TextAECollator
from textae.data.batching import FirstFit, PackedBatchSampler, TokenBudgetBatchSampler, first_fit_rows
from textae.models.base import IGNORE_INDEX, token_cross_entropy


def _lengths(n=500, seed=0):
    return np.random.default_rng(seed).integers(1, 40, size=n)


@pytest.mark.parametrize("make", [lambda l: TokenBudgetBatchSampler(l, max_tokens=200, seed=3), lambda l: PackedBatchSampler(l, rows=4, row_length=64, seed=3)])
def test_every_sentence_once_per_epoch_in_an_order_fixed_by_seed_and_epoch(make):
    lengths = _lengths()
    sampler = make(lengths)
    first = list(sampler)
    assert sorted(i for b in first for i in b) == list(range(len(lengths)))
    assert len(sampler) == len(first)
    assert first == list(make(lengths))  # a rerun or a resume reads the same batches
    sampler.set_epoch(1)
    second = list(sampler)
    assert second != first and sorted(i for b in second for i in b) == list(range(len(lengths)))


def test_token_budget_batches_stay_under_the_budget_and_are_not_length_sorted():
    lengths = _lengths(2000)
    sampler = TokenBudgetBatchSampler(lengths, max_tokens=256, overhead=2, seed=0)
    batches = list(sampler)
    for b in batches:
        assert len(b) == 1 or len(b) * (lengths[b].max() + 2) <= 256
    # drawn at random: the lengths inside a batch spread as widely as the corpus does, unlike sorted batches
    spread = np.mean([lengths[b].std() for b in batches if len(b) > 2])
    assert spread > 0.6 * lengths.std()
    # filled: adding the next sentence would have broken the budget
    for b, nxt in zip(batches, batches[1:]):
        grown = list(b) + [nxt[0]]
        assert len(grown) * (lengths[grown].max() + 2) > 256


def test_packed_batches_fill_their_rows_and_the_collator_repacks_them_alike():
    lengths = _lengths(3000)
    sampler = PackedBatchSampler(lengths, rows=8, row_length=96, seed=1)
    batches = list(sampler)
    for b in batches:
        assert len(first_fit_rows(lengths[b] + 2, 96)) <= 8
    used = sum(int(lengths[b].sum() + 2 * len(b)) for b in batches)
    assert used / (len(batches) * 8 * 96) > 0.9  # little padding (sentences of up to 42 tokens in rows of 96)


def test_first_fit_refuses_an_item_longer_than_a_row_and_reports_a_full_set_of_rows():
    packer = FirstFit(10, max_rows=2)
    assert packer.add(0, 6) and packer.add(1, 6) and packer.add(2, 4)
    assert not packer.add(3, 5) and packer.rows == [[0, 2], [1]]
    with pytest.raises(ValueError, match="does not fit a packed row of 10"):
        FirstFit(10).add(0, 11)
    with pytest.raises(ValueError, match="raise train.pack_length"):
        PackedBatchSampler([30, 5], rows=2, row_length=20)


def test_packed_lm_rows_give_every_sentence_the_nll_it_has_alone(tokenizer, corpus):
    """No sentence sees another: the NLL of each sentence read from packed rows equals its NLL alone."""
    model = tiny_model("lm", tokenizer).eval()
    c = model.config
    rows = [{"input_ids": ids} for ids in tokenizer(corpus[:40], add_special_tokens=False)["input_ids"]]
    packed = TextAECollator(c.pad_token_id, c.bos_token_id, c.eos_token_id, mode="lm", pack_length=64)(rows)
    assert packed["input_ids"].shape[0] < len(rows) // 3 and "attention_mask" not in packed
    with torch.no_grad():
        logits = model(packed["input_ids"], position_ids=packed["position_ids"]).logits
        nll = token_cross_entropy(logits[:, :-1], packed["labels"][:, 1:])
        alone = model.score(corpus[:40])
    # a sentence's tokens are the predicted positions between two restarts of position_ids
    sentence_of = (packed["position_ids"] == 0).cumsum(1)[:, 1:]
    found = {}
    for r in range(nll.shape[0]):
        for s in sentence_of[r].unique().tolist():
            where = (sentence_of[r] == s) & (packed["labels"][r, 1:] != IGNORE_INDEX)
            if where.any():
                key = tuple(packed["input_ids"][r, 1:][where].tolist())
                found[key] = float(nll[r][where].sum())
    expected = {tuple([*x["input_ids"], c.eos_token_id]): float(v) for x, v in zip(rows, alone)}
    assert found.keys() == expected.keys()
    for key, value in expected.items():
        assert found[key] == pytest.approx(value, abs=1e-4), key
    # the same model reading the rows without the restarts (one causal stream) gives other NLLs
    with torch.no_grad():
        leaky = token_cross_entropy(model(packed["input_ids"]).logits[:, :-1], packed["labels"][:, 1:])
    assert not torch.allclose(leaky, nll, atol=1e-3)


def test_packing_is_refused_for_an_encoder_batch():
    with pytest.raises(ValueError, match="needs mode 'lm'"):
        TextAECollator(0, 2, 3, mode="autoencoder", pack_length=64)
