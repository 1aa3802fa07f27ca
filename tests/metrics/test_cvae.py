import doctest
import math

import pytest

import textae.metrics.cvae as cvae_metrics
from textae.metrics.core import corpus_bleu
from textae.metrics.cvae import bleu_to_source, distinct_n, generation_report, label_accuracy, lm_perplexity, self_bleu, transfer_report


def classify(texts):
    return ["positive" if "good" in t else "negative" for t in texts]


def test_docstring_examples():
    result = doctest.testmod(cvae_metrics)
    assert result.attempted > 0 and result.failed == 0


def test_multi_reference_bleu_clips_by_the_best_reference_and_takes_the_closest_length():
    assert corpus_bleu(["the cat sat down"], [["a dog ran off", "the cat sat down"]]) == pytest.approx(100.0)
    assert corpus_bleu(["the cat sat on mat"], [["the cat sat on the mat"]]) == corpus_bleu(["the cat sat on mat"], ["the cat sat on the mat"])
    hyp, refs = "the the cat sat on mat", ["the cat sat on the mat", "a cat sat on a mat in the sun"]
    p = [6 / 6, 3 / 5, 2 / 4, 1 / 3]  # clipped counts against either reference
    assert corpus_bleu([hyp], [refs]) == pytest.approx(100 * math.exp(sum(math.log(x) for x in p) / 4))  # closest length 6: no penalty
    with pytest.raises(ValueError, match="at least one reference"):
        corpus_bleu(["a"], [[]])


def test_distinct_and_self_bleu():
    assert distinct_n(["a b c", "d e f"], 1) == 1.0 and distinct_n([], 2) == 0.0
    same = ["the cat sat on the mat"] * 4
    assert self_bleu(same) == pytest.approx(100.0)
    assert self_bleu(["a b c d", "e f g h", "i j k l"]) == 0.0
    assert self_bleu(same + ["x y z w"], limit=2) >= 0.0
    with pytest.raises(ValueError, match="at least two"):
        self_bleu(["a"])


def test_label_accuracy_and_reports():
    assert label_accuracy(["good", "bad", "good"], ["positive", "negative", "negative"], classify) == pytest.approx(2 / 3)
    report = generation_report(["good a", "good b", "bad c", "good d"], ["positive", "positive", "negative", "negative"], classify)
    assert report["label_accuracy"] == 0.75 and report["label_accuracy_per_label"] == {"negative": 0.5, "positive": 1.0}
    assert set(report) >= {"distinct_1", "distinct_2", "self_bleu"}
    t = transfer_report(["bad film", "bad soup"], ["good film", "bad soup"], ["positive", "positive"], classify)
    assert t["transfer_accuracy"] == 0.5 and t["bleu_to_source"] == corpus_bleu(["good film", "bad soup"], ["bad film", "bad soup"])


def test_bleu_to_source_ignores_case_and_the_spacing_of_punctuation():
    # a WordPiece decoder writes "it ' s bad." where SST-2 reads "it 's bad ."
    assert bleu_to_source(["it ' s a bad film, really."], ["It 's a bad film , really ."]) == pytest.approx(100.0)
    assert bleu_to_source(["a good film ."], ["it 's a bad film , really ."]) < 100.0
    assert bleu_to_source(["x y z w"], ["a b c d"]) == 0.0


def test_lm_perplexity_counts_the_lm_tokens_and_eos(tokenizer, corpus):
    from tests.conftest import tiny_model

    lm = tiny_model("lm", tokenizer).eval()
    texts = corpus[:3]
    out = lm_perplexity(lm, texts)
    tokens = sum(len(tokenizer.encode(t, add_special_tokens=False)) + 1 for t in texts)
    assert out["tokens"] == tokens
    assert out["ppl"] == pytest.approx(math.exp(float(lm.score(texts).sum()) / tokens))
