"""Does a robust-embedding fine-tune tell noisy sentences apart, or pull them toward a common point?

For each encoder, N distinct STS-B dev sentences are embedded clean (c_i) and corrupted (n_i) by one
noise family at one rate (textae.metrics.robustness.corrupt, the curve's seeds), and four figures
are read off the cosine matrix:

* ``own``: mean cos(n_i, c_i), what the distillation's consistency term raises;
* ``other``: mean cos(n_i, c_j), i ≠ j; a student that only shrank noisy embeddings toward the mean
  clean embedding would raise this with ``own``;
* ``noisy-noisy``: mean cos(n_i, n_j), i ≠ j: noisy sentences clumping together;
* ``top-1``: share of n_i whose nearest clean sentence among the N is c_i (identifiability);

with the pairs' Spearman ×100 under the same noise beside them.

    python benchmarks/noisy_identity.py --encoders base runs/dae_minilm_robust/model --family typos --rate 0.2

Results: benchmarks/results/noisy_identity.{json,md}; the table is printed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import noisy_sts  # noqa: E402  (STS-B reader, the base model, encoders)

REPO = noisy_sts.REPO


def encoder_of(name: str):
    """"base" is all-MiniLM-L6-v2 through sentence-transformers; anything else a textae model folder."""
    if name == "base":
        from sentence_transformers import SentenceTransformer

        return noisy_sts.st_encoder(SentenceTransformer(noisy_sts.minilm_path(), device="cpu"))
    import textae  # noqa: F401  (registers the Auto classes)
    from transformers import AutoModel

    return noisy_sts.textae_encoder(AutoModel.from_pretrained(name).eval())


def identity_figures(encode, sentences: list[str], family: str, rate: float) -> dict:
    from textae.metrics.robustness import corrupt

    normalize = torch.nn.functional.normalize
    with torch.no_grad():
        clean = normalize(encode(sentences).float(), dim=-1)
        noisy = normalize(encode(corrupt(sentences, "en", family, rate, salt=1)).float(), dim=-1)
    sim, off = noisy @ clean.T, ~torch.eye(len(sentences), dtype=torch.bool)
    return {
        "own": sim.diag().mean().item(),
        "other": sim[off].mean().item(),
        "noisy_noisy": (noisy @ noisy.T)[off].mean().item(),
        "clean_clean": (clean @ clean.T)[off].mean().item(),
        "top1": (sim.argmax(1) == torch.arange(len(sentences))).float().mean().item(),
    }


def pair_spearman(encode, s1, s2, gold, family: str, rate: float) -> float:
    from textae.metrics.core import spearman
    from textae.metrics.robustness import corrupt

    with torch.no_grad():
        n1, n2 = encode(corrupt(s1, "en", family, rate, salt=1)), encode(corrupt(s2, "en", family, rate, salt=2))
    return 100 * spearman(torch.nn.functional.cosine_similarity(n1, n2).tolist(), gold)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--encoders", nargs="+", default=["base"], help='"base" or textae model folders')
    parser.add_argument("--labels", nargs="+", default=None, help="a name per encoder for the table")
    parser.add_argument("--family", default="typos")
    parser.add_argument("--rate", type=float, default=0.2)
    parser.add_argument("--sentences", type=int, default=1000)
    parser.add_argument("--results", default=str(REPO / "benchmarks" / "results" / "noisy_identity"))
    args = parser.parse_args()
    path = args.data / "stsb" / "dev.tsv"
    if not path.exists():
        print(f"noisy_identity: {path} not found (pass --data)", file=sys.stderr)
        return 2
    labels = args.labels or args.encoders
    if len(labels) != len(args.encoders):
        print("noisy_identity: give one --labels name per encoder", file=sys.stderr)
        return 2
    s1, s2, gold = noisy_sts.read_sts(path)
    sentences = list(dict.fromkeys(s1))[: args.sentences]
    rows = {}
    for label, name in zip(labels, args.encoders):
        encode = encoder_of(name)
        rows[label] = identity_figures(encode, sentences, args.family, args.rate) | {"spearman": pair_spearman(encode, s1, s2, gold, args.family, args.rate)}
        print(label, {k: round(v, 4) for k, v in rows[label].items()}, flush=True)
    lines = [
        f"{args.family} at {args.rate:g}, {len(sentences)} distinct STS-B dev sentences (`python benchmarks/noisy_identity.py`):", "",
        "| encoder | cos(noisy, own clean) | cos(noisy, other clean) | cos(noisy, other noisy) | top-1 own clean | Spearman (pairs) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    lines += [f"| {k} | {r['own']:.3f} | {r['other']:.3f} | {r['noisy_noisy']:.3f} | {100 * r['top1']:.1f}% | {r['spearman']:.1f} |" for k, r in rows.items()]
    table = "\n".join(lines)
    results = Path(args.results)
    results.parent.mkdir(parents=True, exist_ok=True)
    results.with_suffix(".json").write_text(json.dumps({"family": args.family, "rate": args.rate, "sentences": len(sentences), "encoders": dict(zip(labels, args.encoders)), "rows": rows}, indent=1))
    results.with_suffix(".md").write_text(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
