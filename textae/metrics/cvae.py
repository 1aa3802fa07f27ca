"""What the controlled-generation literature reports (Hu et al. 2017; Shen et al. 2017; Zhu et al. 2018):

* label accuracy: the share of generated sentences that a classifier the generator never trained
  with assigns to the label that was asked for;
* fluency: perplexity of the generated text under a separately trained language model (a textae
  :class:`~textae.models.lm.TextLM`; the unit is that LM's tokens, each sentence's EOS included);
* diversity: distinct-1 / distinct-2 (Li et al. 2016: distinct n-grams / all n-grams, over the whole
  set) and self-BLEU (Zhu et al. 2018: each sentence scored against all the others; lower = more diverse);
* transfer: accuracy of the target label on the transferred sentences, and BLEU to the source.

A classifier is any function ``texts → label names``.

>>> distinct_n(["a b a", "a b"], 1), distinct_n(["a b a", "a b"], 2)
(0.4, 0.6666666666666666)
>>> label_accuracy(["good film", "bad film"], ["positive", "positive"], lambda ts: ["positive" if "good" in t else "negative" for t in ts])
0.5
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable, Sequence

from .core import _ngrams, _same_length, corpus_bleu

Classifier = Callable[[list[str]], list[str]]


def distinct_n(texts: Sequence[str], n: int) -> float:
    """Distinct n-grams / all n-grams over the whole set (whitespace tokens); 0 when there is none."""
    grams = [g for t in texts for g in _ngrams(t.split(), n).elements()]
    return len(set(grams)) / len(grams) if grams else 0.0


def self_bleu(texts: Sequence[str], max_n: int = 4, limit: int | None = 500, seed: int = 0) -> float:
    """Self-BLEU ×100: corpus BLEU of each sentence against all the other sentences of the set as its
    references (:func:`~textae.metrics.core.corpus_bleu` with several references). With ``limit``,
    that many sentences (drawn with ``seed``) are scored, each still against all the others."""
    texts = list(texts)
    if len(texts) < 2:
        raise ValueError("self-BLEU needs at least two sentences")
    rows = list(range(len(texts)))
    if limit is not None and len(rows) > limit:
        rows = sorted(random.Random(seed).sample(rows, limit))
    return corpus_bleu([texts[i] for i in rows], [texts[:i] + texts[i + 1 :] for i in rows], max_n=max_n)


def label_accuracy(texts: Sequence[str], labels: Sequence[str], classify: Classifier) -> float:
    """Share of ``texts`` that ``classify`` assigns to the label asked for (0..1)."""
    _same_length(texts, labels)
    if not texts:
        raise ValueError("label accuracy needs at least one text")
    predicted = list(classify(list(texts)))
    _same_length(predicted, labels)
    return sum(str(p) == str(y) for p, y in zip(predicted, labels)) / len(labels)


def lm_perplexity(lm, texts: Sequence[str], batch_size: int = 64) -> dict:
    """Fluency: PPL = exp(Σ NLL / Σ tokens) of ``texts`` under a textae ``TextLM``; tokens are the LM's
    own, each sentence's EOS included. Also the mean NLL per sentence (nats)."""
    texts = [t for t in texts]
    if not texts:
        raise ValueError("perplexity needs at least one text")
    nll = lm.score(texts, batch_size=batch_size)
    tokens = sum(len(ids) + 1 for ids in lm._tokenize(texts))
    return {"ppl": math.exp(float(nll.sum()) / tokens), "nll_per_sentence": float(nll.mean()), "tokens": tokens}


def diversity(texts: Sequence[str], self_bleu_limit: int | None = 500) -> dict:
    """distinct-1, distinct-2 and self-BLEU of one set of generated sentences."""
    return {"distinct_1": distinct_n(texts, 1), "distinct_2": distinct_n(texts, 2), "self_bleu": self_bleu(texts, limit=self_bleu_limit)}


def generation_report(texts: Sequence[str], asked: Sequence[str], classify: Classifier, lm=None, self_bleu_limit: int | None = 500) -> dict:
    """Label accuracy (overall and per label asked for), diversity and, with ``lm``, fluency of
    generated ``texts``, each generated for the label ``asked`` beside it."""
    texts, asked = list(texts), [str(a) for a in asked]
    predicted = [str(p) for p in classify(texts)]
    _same_length(predicted, asked)
    per_label = {}
    for name in sorted(set(asked)):
        rows = [i for i, a in enumerate(asked) if a == name]
        per_label[name] = sum(predicted[i] == name for i in rows) / len(rows)
    report = {
        "label_accuracy": sum(p == a for p, a in zip(predicted, asked)) / len(asked),
        "label_accuracy_per_label": per_label,
        "sentences": len(texts),
        **diversity(texts, self_bleu_limit),
    }
    if lm is not None:
        report["fluency"] = lm_perplexity(lm, texts)
    return report


def bleu_words(text: str) -> str:
    """``text`` lower-cased, with every punctuation mark a word of its own: "It's bad." and the
    pre-tokenised "it 's bad ." both read "it ' s bad .". BLEU to a source compares through this, so a
    decoder whose tokenizer writes punctuation differently from the data (WordPiece's "bad." against
    SST-2's "bad .") is not scored on spacing and case it cannot control."""
    return " ".join(re.findall(r"\w+|[^\w\s]", text.lower()))


def bleu_to_source(outputs: Sequence[str], sources: Sequence[str]) -> float:
    """Corpus BLEU ×100 of ``outputs`` to their ``sources``, both read through :func:`bleu_words`.

    >>> bleu_to_source(["It's a bad film."], ["it 's a bad film ."])
    100.0
    """
    return corpus_bleu([bleu_words(o) for o in outputs], [bleu_words(s) for s in sources])


def transfer_report(sources: Sequence[str], outputs: Sequence[str], targets: Sequence[str], classify: Classifier, lm=None) -> dict:
    """Transfer accuracy (share of ``outputs`` classified as their target label), BLEU ×100 of the
    outputs to their ``sources`` (:func:`bleu_to_source`) and, with ``lm``, the outputs' fluency."""
    _same_length(sources, outputs)
    report = {
        "transfer_accuracy": label_accuracy(outputs, targets, classify),
        "bleu_to_source": bleu_to_source(outputs, sources),
        "sentences": len(outputs),
    }
    if lm is not None:
        report["fluency"] = lm_perplexity(lm, outputs)
    return report
