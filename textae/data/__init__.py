"""Data: the synthetic corpus, loading through ``datasets``, tokenizers and batching."""

from .collate import LengthGroupedBatchSampler, SeededExamples, TextAECollator
from .loading import load_raw_split, tokenize_dataset
from .synthetic import Grammar, synthetic_dataset
from .tokenization import encode_texts, load_tokenizer, special_ids, train_tokenizer

__all__ = [
    "Grammar",
    "LengthGroupedBatchSampler",
    "SeededExamples",
    "TextAECollator",
    "encode_texts",
    "load_raw_split",
    "load_tokenizer",
    "special_ids",
    "synthetic_dataset",
    "tokenize_dataset",
    "train_tokenizer",
]
