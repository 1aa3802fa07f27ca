"""Batches drawn at random: token budgets and packed LM rows.

Length-sorted batches (``LengthGroupedBatchSampler`` with a large ``megabatch_mult``) save padding,
but each batch then holds one length only, and its gradient is biased toward that length. The two
samplers here keep every batch a random sample of the corpus:

* :class:`TokenBudgetBatchSampler` fills each batch in a random order until its padded size would pass
  ``max_tokens`` (batch size varies, the memory of a step does not);
* :class:`PackedBatchSampler` groups sentences, in a random order, into ``rows`` rows of
  ``row_length`` tokens each (first fit, a sentence never split), for the collator to pack: no padding
  to speak of, and every batch a random sample.

Both are seeded by (seed, epoch), so a rerun or a resumed run reads the same batches.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Sampler


class FirstFit:
    """Rows of ``row_length`` tokens filled by first fit: each item goes to the first row with room.

    ``add`` returns False (and places nothing) when the item fits no row and ``max_rows`` are open.
    """

    def __init__(self, row_length: int, max_rows: int | None = None):
        self.row_length, self.max_rows = row_length, max_rows
        self.rows: list[list[int]] = []
        self.free: list[int] = []

    def add(self, item: int, length: int) -> bool:
        if length > self.row_length:
            raise ValueError(f"an item of {length} tokens does not fit a packed row of {self.row_length}; raise train.pack_length or lower data.max_seq_length")
        for r, room in enumerate(self.free):
            if length <= room:
                self.rows[r].append(item)
                self.free[r] -= length
                return True
        if self.max_rows is not None and len(self.rows) == self.max_rows:
            return False
        self.rows.append([item])
        self.free.append(self.row_length - length)
        return True


def first_fit_rows(lengths: Sequence[int], row_length: int) -> list[list[int]]:
    """Item positions per row when items of ``lengths``, in order, fill rows of ``row_length`` by
    first fit (each row keeps its items' order). The same lengths always give the same rows, so the
    sampler that chose a batch and the collator that packs it agree."""
    packer = FirstFit(row_length)
    for i, n in enumerate(lengths):
        packer.add(i, int(n))
    return packer.rows


class _EpochBatches(Sampler[list[int]]):
    """Index batches fixed by (seed, epoch); the count per epoch may vary, so ``len`` is that epoch's."""

    def __init__(self, lengths: Sequence[int], seed: int = 0, with_epoch: bool = False):
        # one int64 array (8 bytes a sentence), not a Python list: a corpus of millions stays small
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.seed = seed
        self.with_epoch = with_epoch
        self.epoch = 0
        self._cache: tuple[int, list[np.ndarray]] | None = None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _order(self) -> np.ndarray:
        gen = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return torch.randperm(len(self.lengths), generator=gen).numpy()

    def _make_batches(self) -> list[np.ndarray]:
        raise NotImplementedError

    def batches(self) -> list[np.ndarray]:
        if self._cache is None or self._cache[0] != self.epoch:
            self._cache = (self.epoch, self._make_batches())
        return self._cache[1]

    def __iter__(self):
        batches, epoch = self.batches(), self.epoch
        if self.with_epoch:
            return ([(epoch, i) for i in batch.tolist()] for batch in batches)
        return (batch.tolist() for batch in batches)

    def __len__(self) -> int:
        return len(self.batches())


class TokenBudgetBatchSampler(_EpochBatches):
    """Random batches of at most ``max_tokens`` padded tokens each.

    Sentences are taken in a seeded random order (new each epoch); a batch closes when one more
    sentence would make ``count × (longest + overhead)`` exceed ``max_tokens``. ``overhead`` is the
    tokens the collator adds to each sentence (BOS / EOS, the encoder's template). A sentence longer
    than the budget alone gets a batch of its own.
    """

    def __init__(self, lengths: Sequence[int], max_tokens: int, overhead: int = 2, seed: int = 0, with_epoch: bool = False):
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be ≥ 1, got {max_tokens}")
        super().__init__(lengths, seed, with_epoch)
        self.max_tokens = max_tokens
        self.overhead = overhead

    def _make_batches(self) -> list[np.ndarray]:
        order = self._order()
        widths = self.lengths[order] + self.overhead
        batches, start, longest = [], 0, 0
        for i, width in enumerate(widths.tolist()):
            longest_with = max(longest, width)
            if i > start and (i - start + 1) * longest_with > self.max_tokens:
                batches.append(order[start:i])
                start, longest_with = i, width
            longest = longest_with
        if start < len(order):
            batches.append(order[start:])
        return batches


class PackedBatchSampler(_EpochBatches):
    """Random batches that fill ``rows`` packed rows of ``row_length`` tokens.

    Sentences (each ``length + overhead`` tokens once wrapped in BOS / EOS) are taken in a seeded
    random order and placed by :func:`first_fit_rows`; a batch closes when the next sentence fits none
    of its rows. The collator repeats the same first fit on the batch to build the rows.
    """

    def __init__(self, lengths: Sequence[int], rows: int, row_length: int, overhead: int = 2, seed: int = 0, with_epoch: bool = False):
        if rows < 1 or row_length < 1:
            raise ValueError(f"rows and row_length must be ≥ 1, got {rows} and {row_length}")
        super().__init__(lengths, seed, with_epoch)
        self.rows, self.row_length, self.overhead = rows, row_length, overhead
        longest = int(self.lengths.max(initial=0)) + overhead
        if longest > row_length:
            raise ValueError(f"a sentence of {longest} tokens (with BOS / EOS) does not fit a packed row of {row_length}; raise train.pack_length")

    def _make_batches(self) -> list[np.ndarray]:
        order = self._order()
        widths = (self.lengths[order] + self.overhead).tolist()
        batches, start = [], 0
        packer = FirstFit(self.row_length, self.rows)
        for i, width in enumerate(widths):
            if not packer.add(i, width):
                batches.append(order[start:i])
                start, packer = i, FirstFit(self.row_length, self.rows)
                packer.add(i, width)
        if start < len(order):
            batches.append(order[start:])
        return batches
