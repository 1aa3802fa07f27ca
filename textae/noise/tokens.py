"""Token-level noise: corruptions of a list of token ids (one sentence, no special tokens).

Every function takes ``ids`` (a sequence of ints, left untouched), a ``rate`` in [0, 1] and ``rng``
(a ``random.Random`` or an int seed), and returns a new list. The same seed gives the same output;
rate 0 is the identity.

- :func:`mask_tokens`: BERT-style masking, each token independently (Devlin et al. 2019).
- :func:`delete_tokens`: TSDAE's deletion noise (Wang et al. 2021, https://arxiv.org/abs/2104.06979).
- :func:`replace_tokens`: random replacement by another id of the vocabulary.
- :func:`mask_spans`: contiguous spans of geometric length (SpanBERT, https://arxiv.org/abs/1907.10529).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence

from ._common import as_rng, check_rate

TSDAE_DELETION_RATE = 0.6
"""The deletion ratio TSDAE found best (Wang et al. 2021, table 7)."""


def mask_tokens(ids: Sequence[int], rate: float, mask_id: int, rng: random.Random | int) -> list[int]:
    """Replaces each token by ``mask_id`` with probability ``rate``; the length is kept.

    >>> mask_tokens([10, 11, 12, 13, 14], 0.5, mask_id=4, rng=0)
    [10, 11, 4, 4, 14]
    >>> mask_tokens([10, 11, 12], 1.0, mask_id=4, rng=0)
    [4, 4, 4]
    """
    rate, rng = check_rate(rate), as_rng(rng)
    # random() lies in [0, 1): rate 1 masks every token, rate 0 none
    return [mask_id if rng.random() < rate else t for t in ids]


def delete_tokens(ids: Sequence[int], rate: float, rng: random.Random | int) -> list[int]:
    """Deletes each token with probability ``rate``, keeping at least one token of a non-empty input.

    When every token is drawn for deletion, one token chosen at random survives (as in TSDAE), so
    the encoder never reads an empty sentence. Use ``rate=TSDAE_DELETION_RATE`` for TSDAE.

    >>> delete_tokens([10, 11, 12, 13, 14], 0.6, rng=0)
    [10, 11]
    >>> delete_tokens([10, 11, 12], 1.0, rng=0)
    [11]
    """
    rate, rng = check_rate(rate), as_rng(rng)
    kept = [t for t in ids if rng.random() >= rate]
    if not kept and len(ids) > 0:
        kept = [ids[rng.randrange(len(ids))]]
    return kept


def replace_tokens(
    ids: Sequence[int],
    rate: float,
    vocab_size: int,
    rng: random.Random | int,
    exclude: Iterable[int] = (),
) -> list[int]:
    """Replaces each token, with probability ``rate``, by a uniformly drawn id of ``range(vocab_size)``
    that differs from it and is not in ``exclude`` (pass the special ids: pad, unk, bos, eos, mask).

    A token whose own id is in ``exclude`` is left in place (a special token stays where it is).

    >>> replace_tokens([10, 11, 12, 13], 0.5, vocab_size=20, rng=0, exclude=(0, 1, 2, 3, 4))
    [10, 11, 8, 13]
    """
    rate, rng = check_rate(rate), as_rng(rng)
    excluded = frozenset(exclude)
    allowed = vocab_size - sum(1 for e in excluded if 0 <= e < vocab_size)
    # a token needs at least one allowed id other than itself to be replaced by
    if allowed < 2:
        raise ValueError(f"replace_tokens needs at least 2 ids outside exclude in range({vocab_size}), found {max(allowed, 0)}")
    out = []
    for t in ids:
        if t not in excluded and rng.random() < rate:
            # rejection sampling keeps the draw uniform over the allowed ids; it needs vocab/allowed tries on average
            new = rng.randrange(vocab_size)
            while new == t or new in excluded:
                new = rng.randrange(vocab_size)
            t = new
        out.append(t)
    return out


def _geometric(mean: float, rng: random.Random) -> int:
    """A length ≥ 1 of geometric law with the given mean (P(L = k) = (1 - q)^(k - 1) q, q = 1 / mean)."""
    if mean <= 1.0:
        return 1
    u = 1.0 - rng.random()  # in (0, 1], so the log is finite
    return 1 + int(math.log(u) / math.log(1.0 - 1.0 / mean))


def mask_spans(
    ids: Sequence[int],
    rate: float,
    mask_id: int,
    rng: random.Random | int,
    mean_span: float = 3.0,
) -> list[int]:
    """Masks contiguous spans until a share ``rate`` of the tokens is masked; the length is kept.

    The number of tokens to mask is ``rate × len(ids)`` rounded up or down at random, so that its
    expectation is exactly ``rate × len(ids)`` even for short sentences. Span lengths are geometric
    with mean ``mean_span`` (SpanBERT's law), cut to what is left to mask; each span starts at a
    token not yet masked and runs right over unmasked tokens, stopping at the end of the sentence.
    Every token gets ``mask_id`` (SpanBERT), not one mask per span (BART's text infilling).

    >>> mask_spans(list(range(10, 20)), 0.4, mask_id=4, rng=0)
    [10, 11, 12, 13, 4, 4, 4, 17, 18, 4]
    """
    rate, rng = check_rate(rate), as_rng(rng)
    if mean_span < 1:
        raise ValueError(f"mean_span must be ≥ 1, got {mean_span!r}")
    n = len(ids)
    exact = rate * n
    target = int(exact) + (1 if rng.random() < exact - int(exact) else 0)
    masked = [False] * n
    remaining = target
    while remaining > 0:
        free = [i for i in range(n) if not masked[i]]
        i = free[rng.randrange(len(free))]
        length = min(_geometric(mean_span, rng), remaining)
        while length > 0 and i < n:
            if not masked[i]:
                masked[i] = True
                length -= 1
                remaining -= 1
            i += 1
    return [mask_id if m else t for t, m in zip(ids, masked)]
