import math

import pytest

from textae.metrics import corpus_bleu, exact_match, load, perplexity, token_accuracy


def test_exact_match_normalises_whitespace_only():
    assert exact_match(["a  b", "c"], ["a b", "C"]) == 0.5


def test_token_accuracy_is_positional_over_reference_tokens():
    assert token_accuracy([[1, 2, 3, 9]], [[1, 5, 3]]) == pytest.approx(2 / 3)
    assert token_accuracy([[]], [[1, 2]]) == 0.0


def test_bleu_identity_zero_and_a_hand_computed_case():
    assert corpus_bleu(["the cat sat on the mat"], ["the cat sat on the mat"]) == pytest.approx(100.0)
    assert corpus_bleu(["x y z w"], ["a b c d"]) == 0.0
    # hyp 'the cat sat on mat' vs ref 'the cat sat on the mat': p1=5/5 p2=3/4 p3=2/3 p4=1/2, BP=exp(1-6/5)
    expected = 100 * math.exp(1 - 6 / 5) * (1 * 3 / 4 * 2 / 3 * 1 / 2) ** 0.25
    assert corpus_bleu(["the cat sat on mat"], ["the cat sat on the mat"]) == pytest.approx(expected)


def test_perplexity_and_length_checks():
    assert perplexity(2 * math.log(4), 2) == pytest.approx(4.0)
    with pytest.raises(ValueError):
        perplexity(1.0, 0)
    with pytest.raises(ValueError, match="differ in length"):
        exact_match(["a"], [])


@pytest.mark.parametrize("name", ["bleu", "exact_match", "token_accuracy", "perplexity"])
def test_evaluate_modules_load_offline_and_agree_with_the_functions(name):
    metric = load(name)
    if name == "bleu":
        assert metric.compute(predictions=["the cat sat on mat"], references=["the cat sat on the mat"])["bleu"] == pytest.approx(corpus_bleu(["the cat sat on mat"], ["the cat sat on the mat"]))
    elif name == "exact_match":
        assert metric.compute(predictions=["a", "b"], references=["a", "c"])["exact_match"] == 0.5
    elif name == "token_accuracy":
        assert metric.compute(predictions=[[1, 2]], references=[[1, 3]])["token_accuracy"] == 0.5
    else:
        assert metric.compute(nll=[math.log(2), math.log(8)], tokens=[1, 1])["perplexity"] == pytest.approx(4.0)
    with pytest.raises(ValueError, match="unknown metric"):
        load("rouge")


def test_spearman_matches_scipy_with_ties_and_is_rank_invariant():
    import random

    from textae.metrics import spearman

    scipy_stats = pytest.importorskip("scipy.stats", reason="scipy gives the reference value")
    rng = random.Random(0)
    x = [rng.random() for _ in range(200)]
    y = [round(v * 5 + rng.gauss(0, 1)) for v in x]  # integer scores: many ties
    assert spearman(x, y) == pytest.approx(scipy_stats.spearmanr(x, y).statistic, abs=1e-12)
    assert spearman([v**3 for v in x], y) == pytest.approx(spearman(x, y), abs=1e-12)  # monotone maps keep ranks
    assert spearman(x, [-v for v in x]) == pytest.approx(-1.0)
