"""pad_sequences: right padding, a mask of the real tokens, widths rounded to a multiple."""

from __future__ import annotations

import pytest
import torch

from textae.tensors import IGNORE_INDEX, pad_sequences


def test_right_padding_keeps_each_sequence_and_the_mask_marks_it():
    seqs = [[5, 6, 7], [8], []]
    ids, mask = pad_sequences(seqs, value=0)
    assert ids.dtype == mask.dtype == torch.long and ids.shape == mask.shape == (3, 3)
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0], [0, 0, 0]]
    assert mask.tolist() == [[1, 1, 1], [1, 0, 0], [0, 0, 0]]
    # round trip: the mask recovers every sequence
    assert [row[m.bool()].tolist() for row, m in zip(ids, mask)] == seqs


@pytest.mark.parametrize("longest, multiple, width", [(5, 1, 5), (5, 4, 8), (8, 4, 8), (1, 8, 8)])
def test_the_width_is_the_longest_length_rounded_up_to_the_multiple(longest, multiple, width):
    ids, mask = pad_sequences([list(range(1, longest + 1)), [1]], value=-1, multiple=multiple)
    assert ids.shape == (2, width)
    assert mask.sum(1).tolist() == [longest, 1]
    assert (ids[mask == 0] == -1).all()


def test_no_tokens_still_give_one_column():
    ids, mask = pad_sequences([[], []], value=3)
    assert ids.tolist() == [[3], [3]] and mask.tolist() == [[0], [0]]
    ids, mask = pad_sequences([], value=3)
    assert ids.shape == (0, 1)


def test_tuples_and_ranges_are_sequences_too():
    ids, _ = pad_sequences([(1, 2), range(3, 6)], value=0)
    assert ids.tolist() == [[1, 2, 0], [3, 4, 5]]


def test_the_ignore_index_is_what_torch_cross_entropy_skips():
    assert IGNORE_INDEX == torch.nn.CrossEntropyLoss().ignore_index
