"""What the VQ tokenizer literature reports, with the field's names: codebook usage (the share of
codes used, dead codes, codebook perplexity), the rate in bits per token and per sentence, and the
compression against the text tokenizer. Reconstruction exact match and token accuracy come from
:func:`textae.metrics.evaluation.reconstruction_scores`.

Rate: a latent position carries G · log2 K bits (G = heads × levels codes of K each), a sentence
L · G · log2 K. "Per token" divides by the sentence's tokens of the run's tokenizer, the final EOS
not counted (the codes describe x; an LM's bits per token in the same unit are its NLL per sentence
over the same count).
"""

from __future__ import annotations

import math

import torch

from ..modules.vq import codebook_perplexity
from ..models.hf import eval_mode
from ..tensors import IGNORE_INDEX

TOKEN_UNIT_X = "tokens of the run's tokenizer, EOS not counted"


@torch.no_grad()
def code_counts(model, dataloader, max_batches: int | None = None) -> dict[str, torch.Tensor | int]:
    """Uses of each code [G, K] over a dataloader of textae batches, with the number of sentences,
    latent positions and text tokens (EOS not counted)."""
    with eval_mode(model):
        device = next(model.parameters()).device
        bottleneck = model.bottleneck
        counts = torch.zeros(bottleneck.groups, bottleneck.codebook_size, dtype=torch.long)
        sentences = positions = tokens = 0
        # a loader prepared by accelerate may synchronise at iteration; read the plain one
        loader = getattr(dataloader, "base_dataloader", dataloader)
        for i, batch in enumerate(loader):
            if max_batches is not None and i >= max_batches:
                break
            enc = model.encode_latent(batch["input_ids"].to(device), batch["attention_mask"].to(device))
            real = enc.latent_mask.bool()
            idx = enc.indices[real].cpu()  # [N, G]
            for g in range(bottleneck.groups):
                counts[g] += torch.bincount(idx[:, g], minlength=bottleneck.codebook_size)
            sentences += int(real.shape[0])
            positions += int(real.sum())
            tokens += int((batch["labels"][:, 1:] != IGNORE_INDEX).sum()) - int(real.shape[0])  # less each EOS
    return {"counts": counts, "sentences": sentences, "positions": positions, "tokens": tokens}


def usage_report(counts: torch.Tensor) -> dict:
    """Codebook usage from counts [G, K]: perplexity (mean over codebooks and each), the share of
    codes used at least once, and the number never used (dead on this data)."""
    perplexity = codebook_perplexity(counts)
    used = counts > 0
    return {
        "codebook_perplexity": float(perplexity.mean()),
        "codebook_perplexity_per_group": perplexity.tolist(),
        "codes_used": float(used.float().mean()),
        "dead_codes": int((~used).sum()),
        "codes_total": int(counts.numel()),
    }


def rate_report(groups: int, codebook_size: int, sentences: int, positions: int, tokens: int, tokenizer_vocab: int) -> dict:
    """Bits per position / sentence / token and the compression against the text tokenizer (its
    tokens at log2 V bits each against the codes)."""
    bits_per_position = groups * math.log2(codebook_size)
    code_bits = positions * bits_per_position
    tokenizer_bits = tokens * math.log2(tokenizer_vocab)
    return {
        "bits_per_position": bits_per_position,
        "bits_per_sentence": code_bits / max(sentences, 1),
        "bits_per_token": code_bits / max(tokens, 1),
        "codes_per_sentence": positions * groups / max(sentences, 1),
        "tokens_per_sentence": tokens / max(sentences, 1),
        "tokens_per_code": tokens / max(positions * groups, 1),
        "tokenizer_bits_per_sentence": tokenizer_bits / max(sentences, 1),
        "compression_vs_tokenizer_bits": tokenizer_bits / max(code_bits, 1e-9),
        "token_unit": TOKEN_UNIT_X,
    }


def vq_report(model, dataloader, max_batches: int | None = None) -> dict:
    """Codebook usage, the rate and the compression of a VQ model over a dataloader, plus the
    training state's dead codes (unused for ``dead_code_steps`` forwards) and the raw counts for the
    usage histogram."""
    found = code_counts(model, dataloader, max_batches)
    counts = found["counts"]
    bottleneck = model.bottleneck
    report = usage_report(counts)
    report.update(rate_report(bottleneck.groups, bottleneck.codebook_size, found["sentences"], found["positions"], found["tokens"], model.config.vocab_size))
    report.update(
        {
            "dead_codes_in_training": int(bottleneck.quantizer.dead_codes()),
            "groups": bottleneck.groups,
            "codebook_size": bottleneck.codebook_size,
            "downsample": bottleneck.downsample,
            "sentences": found["sentences"],
            "code_counts": counts.tolist(),
        }
    )
    return report
