"""Batching: dynamic padding and length-grouped batches."""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset as TorchDataset
from torch.utils.data import Sampler

from ..noise import NoisePipeline, example_seed
from ..noise.labels import token_tags
from ..tensors import IGNORE_INDEX, pad_sequences
from .batching import first_fit_rows
from .tokenization import encode_texts, encode_with_offsets, word_ids_of

NO_WORD = -1  # the word id of a template token, of padding, and of every token of an unaligned row


class TextAECollator:
    """Pads a list of ``{"input_ids": [...], ...}`` rows (clean token ids, no specials) into a batch.

    ``pad_token_id`` pads the encoder's inputs; BOS / EOS (and ``decoder_pad_token_id``, for LM rows)
    are the decoder's. Rows with ``decoder_ids`` (the text in the decoder's own tokenizer) give the
    labels from those; the encoder reads ``input_ids``.

    mode "autoencoder": ``input_ids`` = prefix + corrupt(x) + suffix (the encoder's input),
    ``labels`` = [BOS] x [EOS]; mode "lm": ``input_ids`` = [BOS] x [EOS] and ``labels`` the same,
    padded with -100. Any integer column listed in ``extra_columns`` (e.g. a class label) is stacked
    as is. Widths are rounded up to ``pad_to_multiple_of``.

    Corruption: ``noise`` (a :class:`~textae.noise.NoisePipeline`) corrupts the encoder's input only;
    the decoder always targets the clean text. Text steps run on the row's ``text`` (the collator then
    tokenizes it with ``tokenizer``, truncating to ``max_length``), token steps on the ids. Each row's
    corruption is seeded by its ``noise_seed`` (see :class:`SeededExamples`: a new one each epoch);
    rows without one (streaming data) take a seed hashed from their content and ``seed``.
    ``clean_inputs`` adds ``clean_input_ids`` / ``clean_attention_mask``, the uncorrupted encoder input
    (for a consistency term). ``word_ids`` (with ``clean_inputs``) adds ``word_ids`` / ``clean_word_ids``
    [B, S], the word each token of ``input_ids`` / ``clean_input_ids`` belongs to, so that a term can
    compare a corrupted word with the same clean word: a row is aligned when the corruption kept its
    number of words (typos, look-alikes, swapped or doubled letters do) and no token step changed its
    ids; word k of the noisy row is then word k of the clean one. Every other token, and every token of
    an unaligned row, gets ``NO_WORD`` (-1).

    Packing (mode "lm", ``pack_length`` L): the rows' [BOS] x [EOS] sequences are placed into rows of
    L tokens by :func:`~textae.data.batching.first_fit_rows` (the same fit the
    :class:`~textae.data.batching.PackedBatchSampler` used to choose the batch). ``position_ids`` [R, L]
    restart at 0 with each sentence and there is no ``attention_mask``: transformers reads the restarts
    as sentence boundaries and masks attention across them, so no sentence sees another. ``labels``
    are -100 at each sentence's BOS (never predicted from the previous sentence) and on the padding.

    Tagged noise (mode "lm", ``tagged_noise``: a :class:`~textae.noise.labels.TaggedNoise`, seeded
    per row like ``noise``): ``input_ids`` = [BOS] corrupt(x) [EOS], the row's text corrupted and
    tokenized with character offsets, and ``tag_labels`` the noise class of each of those tokens
    (:func:`~textae.noise.labels.token_tags`; -100 on BOS / EOS / padding); ``labels`` stay clean.

    Text front end (``front_end``: texts → texts, e.g. :class:`~textae.data.spelling.SpellingCorrector`):
    it rewrites the encoder's input text after the text-level noise, before tokenizing, so that the
    model trains on what reaches it at inference behind the same front end. ``clean_input_ids`` and
    ``labels`` stay the row's own text (the teacher's target is the clean sentence as written).
    """

    def __init__(
        self,
        pad_token_id: int,
        bos_token_id: int,
        eos_token_id: int,
        mode: str = "autoencoder",
        noise: NoisePipeline | None = None,
        tokenizer=None,
        max_length: int | None = None,
        encoder_prefix: Sequence[int] = (),
        encoder_suffix: Sequence[int] = (),
        clean_inputs: bool = False,
        word_ids: bool = False,
        extra_columns: Sequence[str] = (),
        pad_to_multiple_of: int = 1,
        seed: int = 0,
        pack_length: int | None = None,
        decoder_pad_token_id: int | None = None,
        tagged_noise=None,
        front_end=None,
    ):
        if mode not in ("autoencoder", "lm"):
            raise ValueError(f"unknown collator mode {mode!r}; choose 'autoencoder' or 'lm'")
        if pack_length and mode != "lm":
            raise ValueError("packing (pack_length) needs mode 'lm': an encoder reads one sentence a row")
        if noise is not None and noise.text_steps and tokenizer is None:
            raise ValueError("text-level noise needs the tokenizer (to tokenize the corrupted text)")
        if tagged_noise is not None and (tokenizer is None or mode != "lm" or pack_length):
            raise ValueError("tagged noise needs the tokenizer and mode 'lm' without packing (it tags the tokens of one sentence a row)")
        if front_end is not None and (tokenizer is None or mode != "autoencoder"):
            raise ValueError("a text front end needs the tokenizer and mode 'autoencoder' (it rewrites the encoder's input text)")
        if word_ids and (tokenizer is None or not clean_inputs):
            raise ValueError("word_ids need the tokenizer and clean_inputs (they align the corrupted input with the clean one)")
        self.pad, self.bos, self.eos = pad_token_id, bos_token_id, eos_token_id
        self.decoder_pad = pad_token_id if decoder_pad_token_id is None else decoder_pad_token_id
        self.mode = mode
        self.noise = noise if noise else None
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.prefix, self.suffix = list(encoder_prefix), list(encoder_suffix)
        self.clean_inputs = clean_inputs
        self.word_ids = word_ids
        self.extra_columns = tuple(extra_columns)
        # few distinct shapes let kernels (oneDNN, cuDNN, torch.compile) reuse what they prepared
        self.multiple = max(1, pad_to_multiple_of)
        self.seed = seed
        self.pack_length = pack_length
        self.tagged_noise = tagged_noise
        self.front_end = front_end

    @property
    def corrupts(self) -> bool:
        """Whether rows are corrupted (their seeds then come from :class:`SeededExamples`)."""
        return self.noise is not None or self.tagged_noise is not None

    @property
    def overhead(self) -> int:
        """Tokens added to each sentence: BOS / EOS for the decoder, the template for the encoder."""
        return max(2, len(self.prefix) + len(self.suffix)) if self.mode == "autoencoder" else 2

    def _row_seed(self, row: dict) -> int:
        if "noise_seed" in row:
            return int(row["noise_seed"])
        return example_seed(self.seed, 0, zlib.crc32(repr(row["input_ids"]).encode()))

    def corrupt(self, rows: list[dict]) -> list[list[int]]:
        """The corrupted token ids (no specials) of each row."""
        return self._corrupt(rows, with_words=False)[0]

    def _corrupt(self, rows: list[dict], with_words: bool) -> tuple[list[list[int]], list[list[int] | None] | None]:
        """(corrupted ids of each row, and with ``with_words`` the word id of each of those tokens, or
        None for a row whose ids a token step changed: its words are no longer the text's)."""
        seeds = [self._row_seed(r) for r in rows]
        words = None
        if (self.noise and self.noise.text_steps) or self.front_end:
            self._require_text(rows, "text-level noise or a text front end")
            texts = [self.noise.text(r["text"], seed) if self.noise else r["text"] for r, seed in zip(rows, seeds)]
            texts = self.front_end(texts) if self.front_end else texts
            ids = encode_texts(self.tokenizer, texts, self._limit, warn=False)  # counted once, when the data was tokenized
            if with_words:
                words = word_ids_of(self.tokenizer, texts, self._limit)
                words = [w if x else None for w, x in zip(words, ids)]
            # a text corrupted down to nothing would leave the encoder an empty input
            ids = [x if x else list(r["input_ids"]) for x, r in zip(ids, rows)]
        else:
            ids = [list(r["input_ids"]) for r in rows]
            if with_words:
                words = self._clean_word_ids(rows)
        if not self.noise:
            return ids, words
        out = [self.noise.tokens(x, seed) for x, seed in zip(ids, seeds)]
        if with_words:
            words = [w if w is not None and o == x and len(w) == len(o) else None for w, o, x in zip(words, out, ids)]
        return out, words

    @property
    def _limit(self) -> int:
        return self.max_length or 10**9

    @staticmethod
    def _require_text(rows: list[dict], what: str) -> None:
        if any(not isinstance(r.get("text"), str) for r in rows):
            raise ValueError(f"{what} needs each row's raw 'text' (tokenize_dataset(..., keep_text=True))")

    def _clean_word_ids(self, rows: list[dict]) -> list[list[int] | None]:
        self._require_text(rows, "word_ids")
        words = word_ids_of(self.tokenizer, [r["text"] for r in rows], self._limit)
        # the row's ids came from the same tokenizer; a row they do not match is left unaligned
        return [w if len(w) == len(r["input_ids"]) else None for w, r in zip(words, rows)]

    def _aligned_word_ids(self, noisy: list, clean: list, shapes: tuple[torch.Size, torch.Size]) -> tuple[torch.Tensor, torch.Tensor]:
        """``word_ids`` / ``clean_word_ids`` of the shapes of ``input_ids`` / ``clean_input_ids``: a
        row's words where both sides have as many words, ``NO_WORD`` elsewhere."""
        out_noisy, out_clean = torch.full(shapes[0], NO_WORD, dtype=torch.long), torch.full(shapes[1], NO_WORD, dtype=torch.long)
        start = len(self.prefix)
        for i, (n, c) in enumerate(zip(noisy, clean)):
            if n is not None and c is not None and n and c and max(n) == max(c):
                out_noisy[i, start : start + len(n)] = torch.as_tensor(n)
                out_clean[i, start : start + len(c)] = torch.as_tensor(c)
        return out_noisy, out_clean

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        if not rows:
            raise ValueError("cannot collate an empty batch")
        clean = [list(r["input_ids"]) for r in rows]
        # a decoder with its own tokenizer targets the row's decoder_ids; else the encoder's ids
        written = [list(r["decoder_ids"]) for r in rows] if "decoder_ids" in rows[0] else clean
        full = [[self.bos, *x, self.eos] for x in written]
        if self.pack_length:
            return self._packed(full)
        labels, _ = pad_sequences(full, IGNORE_INDEX, self.multiple)
        batch = {"labels": labels}
        if self.mode == "lm":
            batch["input_ids"], batch["attention_mask"] = pad_sequences(full, self.decoder_pad, self.multiple)
            if self.tagged_noise is not None:
                batch.update(self._tagged(rows))
        else:
            encoder_in, words = self._corrupt(rows, self.word_ids) if (self.noise or self.word_ids or self.front_end) else (clean, None)
            batch["input_ids"], batch["attention_mask"] = pad_sequences([self._wrap(x) for x in encoder_in], self.pad, self.multiple)
            if self.clean_inputs:
                batch["clean_input_ids"], batch["clean_attention_mask"] = pad_sequences([self._wrap(x) for x in clean], self.pad, self.multiple)
            if self.word_ids:
                shapes = batch["input_ids"].shape, batch["clean_input_ids"].shape
                batch["word_ids"], batch["clean_word_ids"] = self._aligned_word_ids(words, self._clean_word_ids(rows), shapes)
        for name in self.extra_columns:
            batch[name] = torch.as_tensor([r[name] for r in rows], dtype=torch.long)
        return batch

    def _tagged(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        """The rows' texts through the tagged noise: ``input_ids`` / ``attention_mask`` of
        [BOS] corrupt(x) [EOS] and ``tag_labels``, the class of each token."""
        self._require_text(rows, "tagged noise")
        corrupted = [self.tagged_noise(r["text"], self._row_seed(r)) for r in rows]
        ids, offsets = encode_with_offsets(self.tokenizer, [text for text, _ in corrupted], self._limit)
        tags = [token_tags(char_tags, spans) for (_, char_tags), spans in zip(corrupted, offsets)]
        input_ids, mask = pad_sequences([[self.bos, *x, self.eos] for x in ids], self.decoder_pad, self.multiple)
        tag_labels, _ = pad_sequences([[IGNORE_INDEX, *t, IGNORE_INDEX] for t in tags], IGNORE_INDEX, self.multiple)
        return {"input_ids": input_ids, "attention_mask": mask, "tag_labels": tag_labels}

    def _packed(self, seqs: list[list[int]]) -> dict[str, torch.Tensor]:
        rows = first_fit_rows([len(s) for s in seqs], self.pack_length)
        shape = (len(rows), self.pack_length)
        input_ids = torch.full(shape, self.decoder_pad, dtype=torch.long)
        labels = torch.full(shape, IGNORE_INDEX, dtype=torch.long)
        # the padding gets position 0 throughout: each pad is a span of its own, within any position table
        positions = torch.zeros(shape, dtype=torch.long)
        for r, members in enumerate(rows):
            at = 0
            for m in members:
                seq = torch.as_tensor(seqs[m], dtype=torch.long)
                n = len(seq)
                input_ids[r, at : at + n] = seq
                labels[r, at + 1 : at + n] = seq[1:]
                positions[r, at : at + n] = torch.arange(n)
                at += n
        return {"input_ids": input_ids, "labels": labels, "position_ids": positions}

    def _wrap(self, ids: list[int]) -> list[int]:
        return [*self.prefix, *ids, *self.suffix]


class SeededExamples(TorchDataset):
    """A map-style dataset read with ``(epoch, index)`` keys, each row given its ``noise_seed``.

    The seed is :func:`~textae.noise.example_seed` of (seed, epoch, index): an example is corrupted
    differently every epoch, and identically in a rerun or a resumed run. Keys come from
    :class:`LengthGroupedBatchSampler` with ``with_epoch=True``.
    """

    def __init__(self, dataset, seed: int):
        self.dataset = dataset
        self.seed = seed

    def __len__(self) -> int:
        return len(self.dataset)

    def _seeded(self, row: dict, key) -> dict:
        epoch, index = key
        return {**row, "noise_seed": example_seed(self.seed, epoch, index)}

    def __getitem__(self, key) -> dict:
        return self._seeded(self.dataset[int(key[1])], key)

    def __getitems__(self, keys) -> list[dict]:
        rows = self.dataset.__getitems__([int(k[1]) for k in keys])
        return [self._seeded(row, key) for row, key in zip(rows, keys)]


class LengthGroupedBatchSampler(Sampler[list[int]]):
    """Batches of similar length, in a seeded random order that changes with :meth:`set_epoch`.

    Indices are shuffled, cut into "mega-batches" of ``megabatch_mult × batch_size``, each sorted by
    length and split into batches; the batches are then shuffled. Padding drops sharply while the
    order stays random. The same (seed, epoch) always gives the same batches, which exact resume needs.
    With ``with_epoch`` each batch holds ``(epoch, index)`` keys (for :class:`SeededExamples`).
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        seed: int = 0,
        shuffle: bool = True,
        megabatch_mult: int = 50,
        drop_last: bool = False,
        with_epoch: bool = False,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")
        # one int64 array (8 bytes a sentence), not a Python list: a corpus of millions stays small
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.batch_size = batch_size
        self.seed = seed
        self.shuffle = shuffle
        self.megabatch = max(batch_size, batch_size * megabatch_mult)
        self.drop_last = drop_last
        self.with_epoch = with_epoch
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _batches(self) -> list[np.ndarray]:
        """Index arrays, one a batch (a stable sort by descending length, as ``sorted`` with the key -length)."""
        n = len(self.lengths)
        if not self.shuffle:
            order = np.argsort(-self.lengths, kind="stable")
            return [order[i : i + self.batch_size] for i in range(0, n, self.batch_size)]
        gen = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        perm = torch.randperm(n, generator=gen).numpy()
        batches = []
        for start in range(0, n, self.megabatch):
            chunk = perm[start : start + self.megabatch]
            chunk = chunk[np.argsort(-self.lengths[chunk], kind="stable")]
            batches.extend(chunk[i : i + self.batch_size] for i in range(0, len(chunk), self.batch_size))
        if self.drop_last:
            batches = [b for b in batches if len(b) == self.batch_size]
        order = torch.randperm(len(batches), generator=gen).tolist()
        return [batches[i] for i in order]

    def __iter__(self):
        # the order is fixed when iteration starts; each batch becomes a list only when it is read
        batches, epoch = self._batches(), self.epoch
        if self.with_epoch:
            return ([(epoch, i) for i in batch.tolist()] for batch in batches)
        return (batch.tolist() for batch in batches)

    def __len__(self) -> int:
        n = len(self.lengths)
        if self.drop_last:
            return n // self.batch_size if not self.shuffle else (n // self.megabatch) * (self.megabatch // self.batch_size) + (n % self.megabatch) // self.batch_size
        if not self.shuffle:
            return -(-n // self.batch_size)
        full, rest = divmod(n, self.megabatch)
        return full * -(-self.megabatch // self.batch_size) + -(-rest // self.batch_size)
