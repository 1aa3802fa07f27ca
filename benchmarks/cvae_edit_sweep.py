"""Chooses the settings of minimal-edit label transfer (TextCVAE.edit) on training sentences, side by side.

Dev sentences are for the final figure (benchmarks/judge_run.py --transfer-mode edit), so the salience
threshold τ and the lookahead are chosen here, on a seeded sample of the run's *training* split, each
sentence moved to the other label. Every setting edits the same sentences with the same z; each row
reports transfer accuracy (the judge of judge_run.py), BLEU to the source, fluency PPL under an AR LM
run on the same text, and the share of sentences left unchanged.

    python benchmarks/cvae_edit_sweep.py runs/cvae_minilm_sst2 --fluency-lm runs/lm_sst2 \
        --guidances 1 3 --thresholds 0 --shares 0.25 0.5 --lookaheads 3 --sentences 200 --name cvae_minilm_sst2

Results: benchmarks/results/edit_sweep_{name}.json and .md.
"""

from __future__ import annotations

import argparse
import itertools
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from cvae_control import MiniLMClassifier, _texts_and_labels, machine, transfer_targets  # noqa: E402
from judge_run import finished_run, write_results  # noqa: E402


def sweep(args) -> dict:
    from transformers import AutoModel

    from textae.metrics.cvae import transfer_report
    from textae.training import load_recipe

    run = Path(args.run)
    recipe = load_recipe(str(run / "recipe.yaml"))
    model = AutoModel.from_pretrained(str(run / "model")).eval()
    texts, labels = _texts_and_labels(recipe, "train")
    classify = MiniLMClassifier(texts, labels, cache=run / "judge_train_embeddings.npy")
    model.fit_label_latents(texts, labels)
    lm = AutoModel.from_pretrained(str(Path(args.fluency_lm) / "model")).eval()
    rows = sorted(random.Random(args.seed).sample(range(len(texts)), args.sentences))
    sources, source_labels = [texts[i] for i in rows], [labels[i] for i in rows]
    targets = transfer_targets(source_labels, model.label_names, args.seed)
    settings = []
    for guidance, threshold, share, lookahead in itertools.product(args.guidances, args.thresholds, args.shares, args.lookaheads):
        start = time.perf_counter()
        outputs = model.edit(sources, to_label=targets, from_label=source_labels, threshold=threshold, guidance=guidance, lookahead=lookahead, candidates=args.candidates, max_share=share)
        seconds = time.perf_counter() - start
        report = transfer_report(sources, outputs, targets, classify, lm)
        unchanged = sum(o.split() == s.split() for o, s in zip(outputs, sources)) / len(sources)
        settings.append({"guidance": guidance, "threshold": threshold, "share": share, "lookahead": lookahead, **report, "unchanged": unchanged, "seconds": seconds, "examples": list(zip(sources, outputs))[: args.examples]})
        print(f"γ {guidance:g} τ {threshold:g} share {share:g} lookahead {lookahead}: accuracy {report['transfer_accuracy']:.3f}, BLEU {report['bleu_to_source']:.1f}, PPL {report['fluency']['ppl']:.1f}, {seconds:.0f} s", flush=True)
    return {"run": str(run), "sentences": len(sources), "candidates": args.candidates, "source_ppl": transfer_report(sources, sources, source_labels, classify, lm)["fluency"]["ppl"], "settings": settings}


def markdown(name: str, result: dict, env: dict, command: str) -> str:
    lines = [
        f"# Minimal-edit transfer settings on training sentences: {name}",
        "",
        f"Run `{result['run']}`; {result['sentences']} training sentences, each moved to the other label; "
        f"{result['candidates']} candidates per swap. The sources themselves score PPL {result['source_ppl']:.1f} under the fluency LM.",
        f"Machine: {env['processor']}, {env['cpu_count']} cores, torch {env['torch']} ({env['torch_threads']} threads). Command: `{command}`",
        "",
        "| γ | τ (nats) | largest share changed | lookahead | transfer accuracy | BLEU to source | fluency PPL | unchanged | seconds |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for s in result["settings"]:
        lines.append(f"| {s['guidance']:g} | {s['threshold']:g} | {s['share']:g} | {s['lookahead']} | {s['transfer_accuracy']:.1%} | {s['bleu_to_source']:.1f} | {s['fluency']['ppl']:.1f} | {s['unchanged']:.1%} | {s['seconds']:.0f} |")
    for s in result["settings"]:
        lines += ["", f"γ {s['guidance']:g}, τ {s['threshold']:g}, share {s['share']:g}, lookahead {s['lookahead']}:", ""]
        lines += [f"- {src} → {out}" for src, out in s["examples"]]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", help="a finished CVAE run folder")
    parser.add_argument("--fluency-lm", required=True, help="a finished AR LM run (family lm) on the same text")
    parser.add_argument("--name", required=True, help="names the result files: benchmarks/results/edit_sweep_{name}.*")
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.0, 0.25])
    parser.add_argument("--lookaheads", type=int, nargs="+", default=[0, 2, 4])
    parser.add_argument("--shares", type=float, nargs="+", default=[1.0], help="largest shares of a sentence's words that may change")
    parser.add_argument("--candidates", type=int, default=8)
    parser.add_argument("--guidances", type=float, nargs="+", default=[1.0], help="label guidance weights γ")
    parser.add_argument("--sentences", type=int, default=300)
    parser.add_argument("--examples", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--results", default=str(REPO / "benchmarks" / "results"))
    args = parser.parse_args()
    finished_run(parser, args.run)
    result = sweep(args)
    env = machine()
    command = "python benchmarks/cvae_edit_sweep.py " + " ".join(sys.argv[1:])
    write_results(Path(args.results) / f"edit_sweep_{args.name}", {"result": result, "machine": env, "command": command}, markdown(args.name, result, env, command))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
