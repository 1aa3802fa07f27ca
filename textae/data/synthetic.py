"""The built-in synthetic corpus: a seeded probabilistic grammar of English-like review sentences.

Each sentence is drawn by choosing a topic (food / movies / travel / tech), a sentiment (negative /
positive) and a template, then filling the template's slots with words whose distribution depends on
the topic or the sentiment. Because the generative process is known, textae can give for any string:

* its exact probability under the grammar, summed over every derivation (:meth:`Grammar.logprob`),
* its exact labels (:meth:`Grammar.labels`: the most probable topic and sentiment, here certain, since
  the label words are disjoint),

and the corpus entropy is known (:meth:`Grammar.entropy`), so an LM's NLL per sentence can be set
against the limit no model can beat.

>>> g = Grammar()
>>> row = g.sample(random.Random(0))
>>> abs(g.logprob(row["text"]) - row["logprob"]) < 1e-9
True
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

TOPICS = ("food", "movies", "travel", "tech")
SENTIMENTS = ("negative", "positive")


def _zipf(words: str) -> dict[str, float]:
    """Words with probabilities ∝ 1 / rank, a natural-language-like skew."""
    items = words.split()
    weights = [1.0 / (rank + 1) for rank in range(len(items))]
    total = sum(weights)
    return {w: x / total for w, x in zip(items, weights)}


NOUN = {
    "food": _zipf("pizza soup pasta salad burger cake curry bread"),
    "movies": _zipf("film plot actor soundtrack ending script director sequel"),
    "travel": _zipf("hotel flight beach room trip guide train view"),
    "tech": _zipf("phone laptop screen battery app keyboard camera charger"),
}
QUALITY = {
    "food": _zipf("spicy fresh homemade warm"),
    "movies": _zipf("long french animated silent"),
    "travel": _zipf("cheap crowded quiet coastal"),
    "tech": _zipf("wireless compact refurbished portable"),
}
ADJ = {
    "negative": _zipf("terrible awful boring horrible bland disappointing dreadful mediocre"),
    "positive": _zipf("great wonderful excellent lovely amazing superb delightful fantastic"),
}
VERB = {
    "negative": _zipf("hated disliked regretted loathed resented"),
    "positive": _zipf("loved enjoyed adored liked appreciated"),
}
INTENS = _zipf("really very truly quite rather")
DET = {"the": 0.5, "this": 0.3, "that": 0.2}


@dataclass(frozen=True)
class Slot:
    """One template position: a literal word, or a category (optionally present with prob ``p``)."""

    category: str  # "lit", "noun", "quality", "adj", "verb", "intens", "det"
    word: str = ""
    p: float = 1.0

    def choices(self, topic: str, sentiment: str) -> dict[str, float]:
        table = {
            "lit": {self.word: 1.0},
            "noun": NOUN[topic],
            "quality": QUALITY[topic],
            "adj": ADJ[sentiment],
            "verb": VERB[sentiment],
            "intens": INTENS,
            "det": DET,
        }
        return table[self.category]


def _template(spec: str) -> tuple[Slot, ...]:
    """'DET QUALITY? NOUN was' → slots; upper case = category, '?' = optional (p given below)."""
    optional_p = {"QUALITY": 0.3, "INTENS": 0.4}
    slots = []
    for part in spec.split():
        name = part.rstrip("?")
        if name.isupper():
            slots.append(Slot(name.lower(), p=optional_p[name] if part.endswith("?") else 1.0))
        else:
            slots.append(Slot("lit", word=part))
    return tuple(slots)


TEMPLATES: tuple[tuple[float, tuple[Slot, ...]], ...] = (
    (0.30, _template("DET QUALITY? NOUN was INTENS? ADJ .")),
    (0.20, _template("i VERB DET NOUN .")),
    (0.15, _template("what a ADJ NOUN !")),
    (0.15, _template("DET NOUN and DET NOUN were both ADJ .")),
    (0.10, _template("honestly , i VERB DET NOUN because it was INTENS? ADJ .")),
    (0.10, _template("we VERB DET QUALITY? NOUN , it was INTENS? ADJ and INTENS? ADJ .")),
)
TOPIC_P = {"food": 0.3, "movies": 0.3, "travel": 0.2, "tech": 0.2}
SENTIMENT_P = {"negative": 0.5, "positive": 0.5}


def _entropy(dist: dict[str, float]) -> float:
    return -sum(p * math.log(p) for p in dist.values() if p > 0)


def _pick(rng: random.Random, dist: dict[str, float]) -> tuple[str, float]:
    words = list(dist)
    word = rng.choices(words, weights=[dist[w] for w in words])[0]
    return word, math.log(dist[word])


class Grammar:
    """The generative grammar, its exact string probabilities, labels and entropy."""

    def sample(self, rng: random.Random) -> dict:
        """One sentence: {'text', 'topic', 'sentiment', 'logprob'} (logprob of the whole string)."""
        topic, _ = _pick(rng, TOPIC_P)
        sentiment, _ = _pick(rng, SENTIMENT_P)
        index = rng.choices(range(len(TEMPLATES)), weights=[p for p, _ in TEMPLATES])[0]
        words = []
        for slot in TEMPLATES[index][1]:
            if slot.p < 1.0 and rng.random() >= slot.p:
                continue
            word, _ = _pick(rng, slot.choices(topic, sentiment))
            words.append(word)
        text = " ".join(words)
        return {"text": text, "topic": topic, "sentiment": sentiment, "logprob": self.logprob(text)}

    @staticmethod
    def _match(slots: tuple[Slot, ...], tokens: list[str], topic: str, sentiment: str) -> float:
        """P(template emits exactly ``tokens`` | topic, sentiment), summed over optional-slot choices."""
        # ways[j] = probability of having emitted tokens[:j] after the slots seen so far
        ways = [1.0] + [0.0] * len(tokens)
        for slot in slots:
            dist = slot.choices(topic, sentiment)
            nxt = [0.0] * (len(tokens) + 1)
            for j, w in enumerate(ways):
                if w == 0.0:
                    continue
                if slot.p < 1.0:
                    nxt[j] += w * (1.0 - slot.p)
                if j < len(tokens) and tokens[j] in dist:
                    nxt[j + 1] += w * slot.p * dist[tokens[j]]
            ways = nxt
        return ways[-1]

    def joint(self, text: str) -> dict[tuple[str, str], float]:
        """P(text, topic, sentiment) for every label pair (summed over templates)."""
        tokens = text.split()
        out = {}
        for topic, pt in TOPIC_P.items():
            for sentiment, ps in SENTIMENT_P.items():
                out[(topic, sentiment)] = pt * ps * sum(p * self._match(slots, tokens, topic, sentiment) for p, slots in TEMPLATES)
        return out

    def logprob(self, text: str) -> float:
        """Exact log P(text) in nats (−inf outside the language)."""
        total = sum(self.joint(text).values())
        return math.log(total) if total > 0 else float("-inf")

    def labels(self, text: str) -> dict[str, str] | None:
        """The exact labeler: most probable topic and sentiment given the text (None if not in the language)."""
        joint = self.joint(text)
        topic_p = {t: sum(v for (tt, _), v in joint.items() if tt == t) for t in TOPICS}
        sent_p = {s: sum(v for (_, ss), v in joint.items() if ss == s) for s in SENTIMENTS}
        if sum(topic_p.values()) == 0:
            return None
        return {"topic": max(topic_p, key=topic_p.get), "sentiment": max(sent_p, key=sent_p.get)}

    def entropy(self) -> float:
        """H(X) in nats per sentence: the entropy of the derivation, which equals that of the string
        because the grammar is unambiguous (the tests check derivation and string probabilities agree)."""
        h = _entropy(TOPIC_P) + _entropy(SENTIMENT_P) + _entropy({str(i): p for i, (p, _) in enumerate(TEMPLATES)})
        for p_template, slots in TEMPLATES:
            h_slots = 0.0
            for slot in slots:
                per_label = [
                    pt * ps * _entropy(slot.choices(t, s)) for t, pt in TOPIC_P.items() for s, ps in SENTIMENT_P.items()
                ]
                h_presence = _entropy({"y": slot.p, "n": 1 - slot.p}) if slot.p < 1.0 else 0.0
                h_slots += h_presence + slot.p * sum(per_label)
            h += p_template * h_slots
        return h


def synthetic_rows(size: int, seed: int = 0) -> list[dict]:
    """``size`` sentences drawn with ``random.Random(seed)``."""
    if size < 0:
        raise ValueError(f"size must be ≥ 0, got {size}")
    rng = random.Random(seed)
    grammar = Grammar()
    return [grammar.sample(rng) for _ in range(size)]


SPLIT_SEED_OFFSET = {"train": 0, "validation": 1_000_003, "test": 2_000_003}


def synthetic_dataset(size: int = 10000, seed: int = 0, split: str = "train"):
    """A ``datasets.Dataset`` with columns text, topic, sentiment (ClassLabels) and logprob.

    Splits draw from disjoint seeds, so a split is the same whatever the size of the others.
    """
    import datasets

    if split not in SPLIT_SEED_OFFSET:
        raise ValueError(f"unknown synthetic split {split!r}; choose one of {sorted(SPLIT_SEED_OFFSET)}")
    rows = synthetic_rows(size, seed + SPLIT_SEED_OFFSET[split])
    features = datasets.Features(
        {
            "text": datasets.Value("string"),
            "topic": datasets.ClassLabel(names=list(TOPICS)),
            "sentiment": datasets.ClassLabel(names=list(SENTIMENTS)),
            "logprob": datasets.Value("float64"),
        }
    )
    columns = {name: [row[name] for row in rows] for name in features}
    return datasets.Dataset.from_dict(columns, features=features)
