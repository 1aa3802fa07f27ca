"""Tagging scores: per-class precision / recall / F1 against hand-computed values, and the scoring
of a model on freshly corrupted sentences."""

import pytest

from tests.conftest import tiny_model
from textae.metrics.tagging import per_class_scores, score_corrupted
from textae.noise.labels import TAG_NAMES


def test_per_class_scores_match_hand_computed_values():
    gold = ["o", "o", "o", "t", "t", "r"]
    pred = ["o", "o", "t", "t", "o", "o"]
    s = per_class_scores(pred, gold, ["o", "t", "r", "i"])
    # o: 2 hits of 4 predicted, 3 gold; t: 1 of 2, 2 gold; r: never predicted; i: absent
    assert s["o"] == pytest.approx({"precision": 0.5, "recall": 2 / 3, "f1": 4 / 7, "support": 3})
    assert s["t"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2})
    assert s["r"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert s["i"]["support"] == 0
    assert s["macro_f1"] == pytest.approx((4 / 7 + 0.5 + 0.0) / 3)  # over the classes present in gold


def test_perfect_and_mismatched_inputs():
    assert per_class_scores([1, 0, 1], [1, 0, 1], [0, 1])["macro_f1"] == 1.0
    assert per_class_scores([], [], [0, 1])["macro_f1"] == 0.0
    with pytest.raises(ValueError, match="2 predictions for 3 gold labels"):
        per_class_scores([0, 1], [0, 1, 1], [0, 1])


def test_score_corrupted_is_repeatable_and_counts_the_tokens(tokenizer, corpus):
    model = tiny_model("tagger", tokenizer)
    a = score_corrupted(model, corpus[:10], ["replace_words", "insert_emoji", "homoglyphs"], rate=0.2, seed=3, batch_size=4)
    b = score_corrupted(model, corpus[:10], ["replace_words", "insert_emoji", "homoglyphs"], rate=0.2, seed=3)
    assert a == b and a["tokens"] > 0 and set(TAG_NAMES) <= set(a)
    assert sum(a[name]["support"] for name in TAG_NAMES) == a["tokens"]
    assert a["replaced"]["support"] > 0 and a["inserted"]["support"] > 0
    clean = score_corrupted(model, corpus[:10], ["replace_words"], rate=0.0)
    assert clean["original"]["support"] == clean["tokens"]


def test_the_mix_gives_each_sentence_one_drawn_step(tokenizer, corpus):
    model = tiny_model("tagger", tokenizer)
    steps = ["insert_emoji", "insert_punctuation"]
    mixed = score_corrupted(model, corpus[:40], steps, rate=0.3, seed=1, mix=True)
    assert mixed == score_corrupted(model, corpus[:40], steps, rate=0.3, seed=1, mix=True, batch_size=5)
    chained = score_corrupted(model, corpus[:40], steps, rate=0.3, seed=1)
    assert mixed["tokens"] == score_corrupted(model, corpus[:40], steps, rate=0.3, seed=1, mix=True)["tokens"]
    # one insertion step per sentence inserts fewer tokens than both in turn
    assert 0 < mixed["inserted"]["support"] < chained["inserted"]["support"]
    only = score_corrupted(model, corpus[:40], ["insert_emoji"], rate=0.3, seed=1, mix=True)
    assert only == score_corrupted(model, corpus[:40], ["insert_emoji"], rate=0.3, seed=1)  # one step: the mix is that step
