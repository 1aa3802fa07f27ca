"""Shared fixtures: tiny configs, a tokenizer trained on the synthetic corpus, offline settings."""

from __future__ import annotations

import os

# nothing in the tests may reach a hub
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path

import pytest
import torch

import textae
from textae.data import TextAECollator, encode_texts, synthetic_dataset, train_tokenizer
from textae.data.tokenization import special_ids
from textae.training.build import tagged_noise

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
REPO = Path(__file__).resolve().parents[1]

TINY_ENCODER = {"model_type": "bert", "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64, "max_position_embeddings": 64}
TINY_DECODER = {"model_type": "gpt2", "n_embd": 32, "n_layer": 1, "n_head": 2, "n_positions": 64}


@pytest.fixture(autouse=True)
def _datasets_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf_datasets"))


@pytest.fixture(scope="session")
def corpus() -> list[str]:
    return synthetic_dataset(300, seed=0)["text"]


@pytest.fixture(scope="session")
def tokenizer(corpus):
    return train_tokenizer(corpus, "wordlevel")


def tiny_model(family: str, tokenizer, **overrides):
    config_cls, model_cls = textae.FAMILIES[family]
    kwargs = {"vocab_size": len(tokenizer), **special_ids(tokenizer)}
    if hasattr(config_cls, "decoder_config"):
        kwargs["decoder_config"] = TINY_DECODER
    if hasattr(config_cls, "encoder_config"):
        kwargs["encoder_config"] = TINY_ENCODER
    if issubclass(config_cls, textae.TextAutoencoderConfig):
        kwargs.update(latent_dim=16, memory_slots=2)
    kwargs.update(overrides)
    torch.manual_seed(0)
    model = model_cls(config_cls(**kwargs))
    model.tokenizer = tokenizer
    return model


def conditioning(model, n: int) -> dict[str, torch.Tensor]:
    """What a label-conditioned family needs beside the text or the latent: ``class_label`` ids [n]
    cycling through its labels ({} for the other families)."""
    if not model.condition_keys:
        return {}
    return {"class_label": torch.arange(n) % model.config.num_labels}


def make_batch(model, tokenizer, texts: list[str]) -> dict[str, torch.Tensor]:
    labels = conditioning(model, len(texts)).get("class_label")
    extra = ("class_label",) if labels is not None else ()
    # a family that tags its noise (the tagger) gets its tagged corruption, seeded per row
    tagging = tagged_noise(model.batch_spec())
    collator = TextAECollator(tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id, mode=model.batch_format, extra_columns=extra, tokenizer=tokenizer, tagged_noise=tagging)
    rows = [{"input_ids": ids, "text": text, "noise_seed": i} for i, (ids, text) in enumerate(zip(encode_texts(tokenizer, texts, 64), texts))]
    if labels is not None:
        rows = [{**row, "class_label": int(y)} for row, y in zip(rows, labels)]
    return collator(rows)


def overfit(model, batch: dict, steps: int, lr: float = 3e-3) -> float:
    """``steps`` AdamW updates on one batch; returns the last loss."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    for _ in range(steps):
        loss = model(**batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return loss.item()


def fresh_accelerator(**kwargs):
    """A CPU Accelerator with none of the state an earlier run in this process set (bf16, accumulation)."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state()
    GradientState._reset_state()
    return Accelerator(cpu=True, **kwargs)
