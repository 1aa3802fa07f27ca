"""Evaluating a model on a dataset: teacher-forced losses and, for autoencoders, reconstructions."""

from __future__ import annotations

import math

import torch

from ..models.base import IGNORE_INDEX, token_cross_entropy
from ..models.hf import eval_mode
from .core import corpus_bleu, exact_match, token_accuracy

TOKEN_UNIT = "tokens of the run's tokenizer, each sentence's final EOS included"


@torch.no_grad()
def teacher_forced(model, dataloader, accelerator=None, max_batches: int | None = None, loss_weights=None) -> dict:
    """Mean loss and loss terms, NLL per sentence, PPL per token and next-token accuracy over ``dataloader``.

    A model whose ``token_predictions`` are None (a detector such as ELECTRA) has no token NLL: its
    ``stats`` are averaged over sentences instead. Sums are reduced over processes when an
    ``accelerator`` is given.
    """
    with eval_mode(model):
        sums: dict[str, torch.Tensor] = {}
        device = accelerator.device if accelerator else next(model.parameters()).device
        family = accelerator.unwrap_model(model) if accelerator else model
        token_nll = True

        def add(name, value):
            sums[name] = sums.get(name, torch.zeros((), dtype=torch.float64, device=device)) + value

        for i, batch in enumerate(dataloader):
            if max_batches is not None and i >= max_batches:
                break
            batch = {k: v.to(device) for k, v in batch.items()}
            out = model(**batch, loss_weights=loss_weights)
            n_sent = torch.tensor(float(batch["labels"].shape[0]), dtype=torch.float64, device=device)
            add("sentences", n_sent)
            add("loss", out.loss.double() * n_sent)
            for name, value in (out.loss_terms or {}).items():
                add(f"loss_{name}", value.double() * n_sent)
            predictions = family.token_predictions(out, batch)
            if predictions is None:
                token_nll = False
                for name, value in (out.stats or {}).items():
                    add(f"stat_{name}", value.double() * n_sent)
                continue
            logits, targets = predictions
            nll = token_cross_entropy(logits, targets).double()
            real = targets != IGNORE_INDEX
            add("tokens", real.sum().double())
            add("nll", nll.sum())
            add("correct", ((logits.argmax(-1) == targets) & real).sum().double())
        if accelerator is not None:
            sums = {k: accelerator.reduce(v, reduction="sum") for k, v in sums.items()}
    if not sums:
        raise ValueError("evaluation data is empty")
    n = sums["sentences"].item()
    if not token_nll:
        result = {"loss": sums["loss"].item() / n, "sentences": int(n)}
        for key, value in sums.items():
            if key.startswith(("loss_", "stat_")):
                result[key.removeprefix("stat_")] = value.item() / n
        return result
    tokens = sums["tokens"].item()
    result = {
        "loss": sums["loss"].item() / n,
        "nll_per_sentence": sums["nll"].item() / n,
        "nll_per_token": sums["nll"].item() / tokens,
        "ppl": math.exp(sums["nll"].item() / tokens),
        "next_token_accuracy": sums["correct"].item() / tokens,
        "sentences": int(n),
        "tokens": int(tokens),
    }
    for key, value in sums.items():
        if key.startswith("loss_"):
            result[key] = value.item() / n
    return result


@torch.no_grad()
def reconstruction_scores(model, texts: list[str], batch_size: int = 64, examples: int = 5) -> dict:
    """Greedy reconstruction of ``texts``: exact match, token accuracy (on token ids), BLEU ×100."""
    with eval_mode(model):
        outputs = model.reconstruct(texts, batch_size=batch_size)
    tokenize = model._tokenize_output  # outputs and references in the tokenizer the model writes with
    refs_norm = [model.output_tokenizer.decode(ids, skip_special_tokens=True) for ids in tokenize(texts)]
    return {
        "exact_match": exact_match(outputs, refs_norm),
        "token_accuracy": token_accuracy(tokenize(outputs), tokenize(refs_norm)),
        "bleu": corpus_bleu(outputs, refs_norm),
        "examples": [{"input": t, "output": o} for t, o in list(zip(texts, outputs))[:examples]],
    }


def exact_reference(eval_raw, model_nll_per_sentence: float) -> dict | None:
    """When the eval data carries each sentence's exact log-probability (the synthetic corpus does),
    the exact NLL per sentence of that same sample and the model's excess over it."""
    if "logprob" not in (eval_raw.column_names or []):
        return None
    from ..data.synthetic import Grammar

    logprobs = [row["logprob"] for row in eval_raw]
    exact = -sum(logprobs) / len(logprobs)
    return {
        "exact_nll_per_sentence": exact,
        "grammar_entropy": Grammar().entropy(),
        "model_over_exact": model_nll_per_sentence / exact - 1.0,
    }
