"""Batching: dynamic padding and length-grouped batches."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch.utils.data import Sampler

from ..tensors import IGNORE_INDEX, pad_sequences


class TextAECollator:
    """Pads a list of ``{"input_ids": [...], ...}`` rows (clean token ids, no specials) into a batch.

    mode "autoencoder": ``input_ids`` = x (after ``noise``, if any), ``labels`` = [BOS] x [EOS];
    mode "lm": ``input_ids`` = [BOS] x [EOS] and ``labels`` the same, padded with -100.
    Any other integer column listed in ``extra_columns`` (e.g. a class label) is stacked as is.
    Widths are rounded up to ``pad_to_multiple_of``.

    ``noise(ids) -> ids`` corrupts the encoder's input only; the decoder always targets the clean text.
    """

    def __init__(
        self,
        pad_token_id: int,
        bos_token_id: int,
        eos_token_id: int,
        mode: str = "autoencoder",
        noise: Callable[[list[int]], list[int]] | None = None,
        extra_columns: Sequence[str] = (),
        pad_to_multiple_of: int = 1,
    ):
        if mode not in ("autoencoder", "lm"):
            raise ValueError(f"unknown collator mode {mode!r}; choose 'autoencoder' or 'lm'")
        self.pad, self.bos, self.eos = pad_token_id, bos_token_id, eos_token_id
        self.mode = mode
        self.noise = noise
        self.extra_columns = tuple(extra_columns)
        # few distinct shapes let kernels (oneDNN, cuDNN, torch.compile) reuse what they prepared
        self.multiple = max(1, pad_to_multiple_of)

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        if not rows:
            raise ValueError("cannot collate an empty batch")
        clean = [list(r["input_ids"]) for r in rows]
        full = [[self.bos, *x, self.eos] for x in clean]
        labels, _ = pad_sequences(full, IGNORE_INDEX, self.multiple)
        if self.mode == "lm":
            input_ids, mask = pad_sequences(full, self.pad, self.multiple)
        else:
            encoder_in = [self.noise(x) for x in clean] if self.noise else clean
            input_ids, mask = pad_sequences(encoder_in, self.pad, self.multiple)
        batch = {"input_ids": input_ids, "attention_mask": mask, "labels": labels}
        for name in self.extra_columns:
            batch[name] = torch.as_tensor([r[name] for r in rows], dtype=torch.long)
        return batch


class LengthGroupedBatchSampler(Sampler[list[int]]):
    """Batches of similar length, in a seeded random order that changes with :meth:`set_epoch`.

    Indices are shuffled, cut into "mega-batches" of ``megabatch_mult × batch_size``, each sorted by
    length and split into batches; the batches are then shuffled. Padding drops sharply while the
    order stays random. The same (seed, epoch) always gives the same batches, which exact resume needs.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int = 0, shuffle: bool = True, megabatch_mult: int = 50, drop_last: bool = False):
        if batch_size < 1:
            raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.seed = seed
        self.shuffle = shuffle
        self.megabatch = max(batch_size, batch_size * megabatch_mult)
        self.drop_last = drop_last
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _batches(self) -> list[list[int]]:
        n = len(self.lengths)
        if not self.shuffle:
            order = sorted(range(n), key=lambda i: -self.lengths[i])
            return [order[i : i + self.batch_size] for i in range(0, n, self.batch_size)]
        gen = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        perm = torch.randperm(n, generator=gen).tolist()
        batches = []
        for start in range(0, n, self.megabatch):
            chunk = sorted(perm[start : start + self.megabatch], key=lambda i: -self.lengths[i])
            batches.extend(chunk[i : i + self.batch_size] for i in range(0, len(chunk), self.batch_size))
        if self.drop_last:
            batches = [b for b in batches if len(b) == self.batch_size]
        order = torch.randperm(len(batches), generator=gen).tolist()
        return [batches[i] for i in order]

    def __iter__(self):
        return iter(self._batches())

    def __len__(self) -> int:
        n = len(self.lengths)
        if self.drop_last:
            return n // self.batch_size if not self.shuffle else (n // self.megabatch) * (self.megabatch // self.batch_size) + (n % self.megabatch) // self.batch_size
        if not self.shuffle:
            return -(-n // self.batch_size)
        full, rest = divmod(n, self.megabatch)
        return full * -(-self.megabatch // self.batch_size) + -(-rest // self.batch_size)
