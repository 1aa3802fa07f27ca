"""The order of micro-batches: seeded epochs, skipped batches on resume, steps of accumulated batches.

A resumed run reads exactly the batches, in the same order, that the uninterrupted run would have
read from that point on, and draws the same dropout for each.
"""

from __future__ import annotations

import itertools

from accelerate import skip_first_batches

from .checkpoints import Position


def batch_seed(seed: int, batch_index: int, rank: int) -> int:
    return (seed * 1_000_003 + batch_index * 7_919 + rank * 104_729) % (2**63 - 1)



def _epoch_at(train_dl, sampler, batches_seen: int) -> tuple[int, int]:
    """The epoch that holds micro-batch number ``batches_seen`` (0-based) and how many batches of it
    come before; epochs may differ in length (token budgets, packed rows)."""
    epoch, start = 0, 0
    while True:
        sampler.set_epoch(epoch)
        train_dl.set_epoch(epoch)
        size = len(train_dl)
        if size == 0:
            raise ValueError("the training data yielded no batch")
        if batches_seen < start + size:
            return epoch, batches_seen - start
        epoch, start = epoch + 1, start + size



def micro_batches(train_dl, sampler, position: Position):
    """Endless micro-batches in the exact order an uninterrupted run reads them, from ``position`` on:
    the epoch's seeded order, less the batches of that epoch already read."""
    if sampler is None:  # a stream repeats its passes in one order: resume reads past the batches used
        yield from itertools.islice(_stream_passes(train_dl), position.batches_seen, None)
        return
    epoch, skip = _epoch_at(train_dl, sampler, position.batches_seen)
    while True:
        # accelerate's loader sets its sampler's epoch to its own count of passes at every pass (and
        # skip_first_batches copies that count), which restarts at 0 in a resumed process: without
        # this, a run resumed in epoch e > 0 replayed epoch 0's batch order
        sampler.set_epoch(epoch)
        train_dl.set_epoch(epoch)
        yield from skip_first_batches(train_dl, skip) if skip else train_dl
        epoch, skip = epoch + 1, 0



def step_batches(batches, accumulation: int):
    """Groups micro-batches into the lists that make one optimizer step each."""
    while True:
        group = list(itertools.islice(batches, accumulation))
        if not group:
            return
        yield group



def _stream_passes(train_dl):
    while True:
        empty = True
        for batch in train_dl:
            empty = False
            yield batch
        if empty:
            raise ValueError("the training data yielded no batch")

