import math
import random
import statistics

import pytest

from textae.data.synthetic import SENTIMENTS, TOPICS, Grammar, synthetic_dataset, synthetic_rows


def test_same_seed_same_corpus_and_other_seed_differs():
    assert synthetic_rows(50, seed=3) == synthetic_rows(50, seed=3)
    assert synthetic_rows(50, seed=3) != synthetic_rows(50, seed=4)


def test_string_probability_equals_derivation_probability():
    # The grammar is unambiguous: summing over every derivation of a string gives exactly the
    # probability of the one derivation that produced it (tracked independently here).
    g = Grammar()
    rng = random.Random(7)
    from textae.data import synthetic as syn

    for _ in range(300):
        state = rng.getstate()
        row = g.sample(rng)
        replay = random.Random()
        replay.setstate(state)
        topic, lp_t = syn._pick(replay, syn.TOPIC_P)
        sentiment, lp_s = syn._pick(replay, syn.SENTIMENT_P)
        index = replay.choices(range(len(syn.TEMPLATES)), weights=[p for p, _ in syn.TEMPLATES])[0]
        lp = lp_t + lp_s + math.log(syn.TEMPLATES[index][0])
        for slot in syn.TEMPLATES[index][1]:
            if slot.p < 1.0:
                present = replay.random() < slot.p
                lp += math.log(slot.p if present else 1 - slot.p)
                if not present:
                    continue
            _, lw = syn._pick(replay, slot.choices(topic, sentiment))
            lp += lw
        assert row["logprob"] == pytest.approx(lp, abs=1e-9)
        assert g.labels(row["text"]) == {"topic": topic, "sentiment": sentiment}


def test_entropy_matches_the_sample_mean_of_minus_logprob():
    rows = synthetic_rows(20000, seed=1)
    mean = -statistics.fmean(r["logprob"] for r in rows)
    sd = statistics.pstdev(r["logprob"] for r in rows)
    assert abs(mean - Grammar().entropy()) < 4 * sd / math.sqrt(len(rows))


def test_strings_outside_the_language_have_zero_probability():
    g = Grammar()
    assert g.logprob("pizza the was .") == float("-inf")
    assert g.labels("completely unknown words") is None


def test_dataset_builder_has_labels_and_disjoint_split_seeds():
    train = synthetic_dataset(20, seed=0, split="train")
    valid = synthetic_dataset(20, seed=0, split="validation")
    assert train.column_names == ["text", "topic", "sentiment", "logprob"]
    assert train.features["topic"].names == list(TOPICS)
    assert train.features["sentiment"].names == list(SENTIMENTS)
    assert train["text"] != valid["text"]
    assert synthetic_dataset(10, seed=0)["text"] == train["text"][:10]
    with pytest.raises(ValueError, match="unknown synthetic split"):
        synthetic_dataset(5, split="dev")
