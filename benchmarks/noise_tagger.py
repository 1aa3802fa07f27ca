"""The noise tagger on held-out sentences: per-class precision, recall and F1 and macro-F1 of a trained
tagger run (``recipes/tagger_minilm.yaml``) on PTB valid and on the STS-B dev sentences, corrupted at
each rate with one tagged noise per sentence drawn at random (the robustness curve's "mix"): replaced
words, inserted punctuation / emoji / spaces, keyboard typos, swapped or doubled letters, look-alikes.
The classes come from the noise itself (``textae.noise.labels``); every sentence is seeded, so two
runs are scored on the same corruption.

    python benchmarks/robust_corpus.py && textae train recipes/tagger_minilm.yaml
    python benchmarks/noise_tagger.py --run runs/tagger_minilm

Results: benchmarks/results/noise_tagger.{json,md}.
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

from textae.metrics.tagging import score_corrupted  # noqa: E402
from textae.noise.labels import TAG_NAMES  # noqa: E402

STEPS = ["replace_words", "insert_punctuation", "insert_emoji", "insert_spaces", "keyboard_typos", "swap_chars", "double_chars", "homoglyphs"]


def sentence_sets(data: Path, limit: int | None) -> dict[str, list[str]]:
    sts = []
    with open(data / "stsb" / "dev.tsv", encoding="utf-8") as f:
        next(f)
        for line in f:
            parts = line.rstrip("\n").split("\t")
            sts += [p.strip() for p in parts[1:3] if p.strip()]
    ptb = [s.strip() for s in (data / "ptb" / "valid.txt").read_text(encoding="utf-8").splitlines() if s.strip()]
    return {"PTB valid": ptb[:limit], "STS-B dev": list(dict.fromkeys(sts))[:limit]}


def table(report: dict) -> str:
    lines = ["| class | precision | recall | F1 | tokens |", "| --- | --- | --- | --- | --- |"]
    for name in TAG_NAMES:
        s = report[name]
        lines.append(f"| {name} | {s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f} | {s['support']} |")
    lines.append(f"| **macro-F1** | | | **{report['macro_f1']:.3f}** | {report['tokens']} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", required=True, help="a trained tagger run folder")
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--rates", type=float, nargs="+", default=[0.1, 0.2])
    parser.add_argument("--limit", type=int, default=None, help="the first N sentences of each set")
    parser.add_argument("--results", default=str(REPO / "benchmarks" / "results" / "noise_tagger"))
    args = parser.parse_args()
    data = Path(args.data)
    if not (data / "stsb" / "dev.tsv").exists():
        print(f"noise_tagger: STS-B not found under {data} (pass --data)", file=sys.stderr)
        return 2
    import textae  # noqa: F401  (registers the Auto classes)
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(Path(args.run) / "model")).eval()
    metrics = json.loads((Path(args.run) / "metrics.json").read_text()) if (Path(args.run) / "metrics.json").exists() else {}
    results = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
        "run": args.run, "train_seconds": (metrics.get("throughput") or {}).get("seconds"), "steps": STEPS, "scores": {},
    }
    md = [f"Noise tagger `{args.run}`; each sentence corrupted by one of {', '.join(STEPS)} (drawn at random) at the rate. Machine: {results['machine']}.", ""]
    for name, sentences in sentence_sets(data, args.limit).items():
        for rate in args.rates:
            start = time.perf_counter()
            report = score_corrupted(model, sentences, STEPS, rate, seed=0, mix=True)
            results["scores"][f"{name}@{rate}"] = {**report, "sentences": len(sentences), "seconds": time.perf_counter() - start}
            md += [f"{name} ({len(sentences)} sentences), rate {rate}:", "", table(report), ""]
            print(f"noise_tagger: {name} @ {rate}: macro-F1 {report['macro_f1']:.3f}", flush=True)
    out = Path(args.results)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(results, indent=2))
    out.with_suffix(".md").write_text("\n".join(md))
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
