"""The order of micro-batches: a resumed run reads the same batches, in the same order, as an uninterrupted one."""

from __future__ import annotations

import itertools

import pytest
from accelerate.utils import DataLoaderConfiguration
from torch.utils.data import DataLoader

from tests.conftest import fresh_accelerator
from textae.data.batching import TokenBudgetBatchSampler
from textae.training.batch_order import batch_seed, micro_batches, step_batches
from textae.training.checkpoints import Position

LENGTHS = [3, 5, 2, 8, 1, 4, 6, 7, 2, 3]


def loader(lengths=LENGTHS):
    sampler = TokenBudgetBatchSampler(lengths, max_tokens=20, seed=1)  # epochs of different lengths and orders
    accelerator = fresh_accelerator(dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True))
    return accelerator.prepare(DataLoader(list(range(len(lengths))), batch_sampler=sampler, collate_fn=lambda rows: rows)), sampler


def test_every_epoch_reads_each_example_once():
    dl, sampler = loader()
    read = list(itertools.islice(micro_batches(dl, sampler, Position()), 30))
    epochs, current = [], []
    for batch in read:
        current.extend(batch)
        if len(current) == len(LENGTHS):
            epochs.append(current)
            current = []
    assert len(epochs) >= 3 and all(sorted(e) == list(range(len(LENGTHS))) for e in epochs)
    assert len({tuple(e) for e in epochs}) > 1  # a new order each epoch


@pytest.mark.parametrize("seen", [1, 3, 4, 7, 11])
def test_resuming_after_n_batches_reads_what_the_uninterrupted_run_reads_from_n(seen):
    dl, sampler = loader()
    full = list(itertools.islice(micro_batches(dl, sampler, Position()), 16))
    resumed = list(itertools.islice(micro_batches(dl, sampler, Position(step=seen, batches_seen=seen)), 16 - seen))
    assert resumed == full[seen:]


def test_a_stream_without_a_sampler_repeats_its_passes_and_resumes_past_the_batches_read():
    stream = [[0, 1], [2, 3], [4]]
    assert list(itertools.islice(micro_batches(stream, None, Position()), 5)) == [[0, 1], [2, 3], [4], [0, 1], [2, 3]]
    assert list(itertools.islice(micro_batches(stream, None, Position(batches_seen=4)), 2)) == [[2, 3], [4]]
    with pytest.raises(ValueError, match="the training data yielded no batch"):
        next(micro_batches([], None, Position()))


def test_an_empty_epoch_is_named():
    class Empty:
        def set_epoch(self, epoch):
            pass

        def __len__(self):
            return 0

    with pytest.raises(ValueError, match="the training data yielded no batch"):
        next(micro_batches(Empty(), Empty(), Position()))


def test_step_batches_groups_micro_batches_by_the_accumulation_count():
    assert list(step_batches(iter(range(7)), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(step_batches(iter([]), 2)) == []
    assert list(itertools.islice(step_batches(itertools.count(), 2), 2)) == [[0, 1], [2, 3]]  # endless input, lazily


def test_batch_seeds_are_fixed_and_differ_by_batch_and_by_rank():
    assert batch_seed(0, 5, 0) == batch_seed(0, 5, 0)
    seeds = {batch_seed(seed, index, rank) for seed in range(3) for index in range(50) for rank in range(4)}
    assert len(seeds) == 3 * 50 * 4
    assert all(0 <= s < 2**63 - 1 for s in seeds)
