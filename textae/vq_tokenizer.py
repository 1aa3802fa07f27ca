"""``VQTextTokenizer``: sentences ↔ discrete codes with a trained :class:`~textae.TextVQVAE`.

Example::

    from textae import VQTextTokenizer
    tok = VQTextTokenizer.from_pretrained("./runs/vq_ptb")       # a local run folder or its model/ folder
    codes = tok.encode(["the company said it expects a loss ."])  # [[17, 305, 2, ...]]
    tok.decode(codes)                                             # ['the company said it expects a loss .']
    ds = tok.map(dataset, text_column="text")                     # adds a "codes" column
    tok.save_pretrained("vq_tokenizer")                           # safetensors + config + text tokenizer

A sentence of n tokens gives ceil(n / r) positions of G codes each (r = ``downsample``, G = heads ×
levels), flattened position-major; the code of group g with index k has id g · K + k, so the ids
run over ``vocab_size`` = G · K values and any code sequence is a plain token sequence.
"""

from __future__ import annotations

import math
from pathlib import Path


class VQTextTokenizer:
    """A tokenizer-shaped view of a :class:`~textae.TextVQVAE` (which keeps its text tokenizer beside it)."""

    def __init__(self, model):
        from .models.vq import TextVQVAE

        if not isinstance(model, TextVQVAE):
            raise TypeError(f"VQTextTokenizer needs a TextVQVAE, got {type(model).__name__}")
        if model.tokenizer is None:
            raise ValueError("the TextVQVAE has no text tokenizer attached")
        self.model = model.eval()

    @classmethod
    def from_pretrained(cls, path: str | Path, **kwargs) -> VQTextTokenizer:
        """Loads a saved TextVQVAE (a model folder, or a run folder holding ``model/``) and its text tokenizer."""
        from transformers import AutoModel

        import textae  # noqa: F401  (registers the families)

        folder = Path(path)
        if (folder / "model" / "config.json").exists():
            folder = folder / "model"
        return cls(AutoModel.from_pretrained(str(folder), **kwargs))

    def save_pretrained(self, path: str | Path) -> Path:
        """Writes the model (safetensors + config) and the text tokenizer beside it."""
        self.model.save_pretrained(path)
        return Path(path)

    @property
    def vocab_size(self) -> int:
        """Distinct code ids (G · K)."""
        return self.model.code_vocab_size

    @property
    def codes_per_position(self) -> int:
        return self.model.codes_per_position

    @property
    def downsample(self) -> int:
        return self.model.bottleneck.downsample

    @property
    def bits_per_code(self) -> float:
        return math.log2(self.model.codebook_size)

    @property
    def text_tokenizer(self):
        return self.model.tokenizer

    def encode(self, texts: str | list[str], batch_size: int = 64) -> list[list[int]]:
        """texts → code ids per sentence (one string gives a list with one entry)."""
        return self.model.encode_codes([texts] if isinstance(texts, str) else list(texts), batch_size)

    __call__ = encode

    def decode(self, codes: list[list[int]], batch_size: int = 64, **generate_kwargs) -> list[str]:
        """Code ids per sentence → texts (greedy decoding unless ``do_sample=True``)."""
        if codes and isinstance(codes[0], int):
            raise TypeError("decode takes a list of code sequences (list[list[int]]), one per sentence")
        return self.model.decode_codes([list(c) for c in codes], batch_size, **generate_kwargs)

    def map(self, dataset, text_column: str = "text", column: str = "codes", batch_size: int = 256, **map_kwargs):
        """``dataset.map`` that adds ``column`` with each row's code ids (a ``datasets`` Dataset or
        IterableDataset); empty or missing texts get an empty list."""

        def add_codes(batch):
            texts = batch[text_column]
            present = [i for i, t in enumerate(texts) if isinstance(t, str) and t.strip()]
            found = self.encode([texts[i] for i in present]) if present else []
            codes = [[] for _ in texts]
            for i, c in zip(present, found):
                codes[i] = c
            return {column: codes}

        return dataset.map(add_codes, batched=True, batch_size=batch_size, **map_kwargs)
