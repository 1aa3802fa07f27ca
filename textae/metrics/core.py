"""The metrics the field reports, as plain functions over Python lists and numbers.

Each also loads offline as an ``evaluate`` module (see :func:`textae.metrics.load`).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence


def exact_match(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Share of predictions equal to their reference after whitespace normalisation (0..1)."""
    _same_length(predictions, references)
    if not references:
        return 0.0
    hits = sum(" ".join(p.split()) == " ".join(r.split()) for p, r in zip(predictions, references))
    return hits / len(references)


def token_accuracy(predictions: Sequence[Sequence], references: Sequence[Sequence]) -> float:
    """Share of reference tokens matched at the same position (0..1); extra predicted tokens don't count."""
    _same_length(predictions, references)
    total = sum(len(r) for r in references)
    if total == 0:
        return 0.0
    hits = sum(sum(a == b for a, b in zip(p, r)) for p, r in zip(predictions, references))
    return hits / total


def _ngrams(tokens: Sequence[str], n: int) -> Counter:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def corpus_bleu(predictions: Sequence[str], references: Sequence[str | Sequence[str]], max_n: int = 4) -> float:
    """Corpus BLEU ×100 (Papineni et al. 2002): clipped n-gram precisions 1..max_n, geometric mean,
    brevity penalty; whitespace tokens, no smoothing (0 if any order has no match).

    Each prediction has one reference (a string) or several (a list of strings: n-gram counts are
    clipped by their largest count in any reference, and the brevity penalty uses the reference
    length closest to the prediction's, the shorter on a tie).
    """
    _same_length(predictions, references)
    matches = [0] * max_n
    totals = [0] * max_n
    hyp_len = ref_len = 0
    cache: dict[str, tuple[int, list[Counter]]] = {}  # a reference shared by many predictions is counted once

    def counted(ref: str) -> tuple[int, list[Counter]]:
        if ref not in cache:
            tokens = ref.split()
            cache[ref] = (len(tokens), [_ngrams(tokens, n) for n in range(1, max_n + 1)])
        return cache[ref]

    for pred, refs in zip(predictions, references):
        p = pred.split()
        refs = [counted(r) for r in ([refs] if isinstance(refs, str) else refs)]
        if not refs:
            raise ValueError("every prediction needs at least one reference")
        hyp_len += len(p)
        ref_len += min((length for length, _ in refs), key=lambda length: (abs(length - len(p)), length))
        for n in range(1, max_n + 1):
            pn = _ngrams(p, n)
            matches[n - 1] += sum(min(c, max(grams[n - 1][g] for _, grams in refs)) for g, c in pn.items())
            totals[n - 1] += max(0, len(p) - n + 1)
    if hyp_len == 0 or min(matches) == 0:
        return 0.0
    log_precision = sum(math.log(m / t) for m, t in zip(matches, totals)) / max_n
    brevity = 1.0 if hyp_len > ref_len else math.exp(1 - ref_len / hyp_len)
    return 100.0 * brevity * math.exp(log_precision)


def perplexity(nll_sum: float, n_tokens: int) -> float:
    """exp(total NLL in nats / number of tokens); say which token unit (words, subwords, + EOS)."""
    if n_tokens <= 0:
        raise ValueError("perplexity needs at least one token")
    return math.exp(nll_sum / n_tokens)


def _ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks, ties given the mean of the ranks they span."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for k in range(start, end + 1):
            ranks[order[k]] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def spearman(predictions: Sequence[float], references: Sequence[float]) -> float:
    """Spearman's rank correlation (ties averaged), the STS measure: Pearson's r of the ranks.

    >>> spearman([0.1, 0.4, 0.3], [1, 3, 2])
    1.0
    """
    _same_length(predictions, references)
    if len(predictions) < 2:
        raise ValueError("spearman needs at least two pairs")
    a, b = _ranks(list(predictions)), _ranks(list(references))
    mean_a, mean_b = sum(a) / len(a), sum(b) / len(b)
    cov = sum((x - mean_a) * (y - mean_b) for x, y in zip(a, b))
    var = math.sqrt(sum((x - mean_a) ** 2 for x in a) * sum((y - mean_b) ** 2 for y in b))
    return cov / var if var > 0 else 0.0


def _same_length(a: Sequence, b: Sequence) -> None:
    if len(a) != len(b):
        raise ValueError(f"predictions and references differ in length: {len(a)} vs {len(b)}")
