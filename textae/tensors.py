"""Small tensor helpers shared by the data pipeline and the models."""

from __future__ import annotations

from collections.abc import Sequence

import torch

IGNORE_INDEX = -100  # label value the losses skip (padding)


def pad_sequences(seqs: Sequence[Sequence[int]], value: int, multiple: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pads token lists → ids [B, T] filled with ``value`` and mask [B, T] (1 = real token).

    T is the longest length rounded up to ``multiple`` (at least 1).
    """
    width = max(1, max((len(s) for s in seqs), default=0))
    width = -(-width // multiple) * multiple
    ids = torch.full((len(seqs), width), value, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.as_tensor(list(s), dtype=torch.long)
        mask[i, : len(s)] = 1
    return ids, mask
