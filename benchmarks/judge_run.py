"""Judges one finished CVAE run: label-controlled samples (greedy and nucleus) and label transfer.

The judge is the one benchmarks/cvae_control.py uses for SST-2 and SNIPS: a logistic regression over
all-MiniLM-L6-v2 sentence embeddings, fitted on the run's training split (its accuracy on the real dev
sentences is reported beside the figures). Any CVAE run folder works, whatever its backbones: this is
how the pretrained recipes (recipes/cvae_minilm_*.yaml) are measured after ``textae train``.

    textae train recipes/cvae_minilm_sst2.yaml
    python benchmarks/judge_run.py runs/cvae_minilm_sst2 --name cvae_minilm_sst2
    python benchmarks/judge_run.py runs/cvae_minilm_sst2 --name cvae_minilm_sst2_label_latents --label-latents fit

Results: benchmarks/results/judge_{name}.json and .md (samples and transfer examples included).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from cvae_control import MiniLMClassifier, _texts_and_labels, controlled_decodes, machine  # noqa: E402

TARGETS = {"nucleus label accuracy": (0.90, ">="), "nucleus self-BLEU": (40.0, "<="), "transfer accuracy": (0.80, ">="), "transfer BLEU to source": (20.0, ">=")}


def judge(run: Path, args) -> dict:
    from transformers import AutoModel

    from textae.metrics.cvae import bleu_to_source, generation_report, transfer_report
    from textae.training import load_recipe

    recipe = load_recipe(str(run / "recipe.yaml"))
    model = AutoModel.from_pretrained(str(run / "model")).eval()
    metrics = json.loads((run / "metrics.json").read_text())
    train_texts, train_labels = _texts_and_labels(recipe, "train")
    dev_texts, dev_labels = _texts_and_labels(recipe, "eval")
    classify = MiniLMClassifier(train_texts, train_labels, cache=run / "judge_train_embeddings.npy")
    judge_dev = sum(p == y for p, y in zip(classify(dev_texts), dev_labels)) / len(dev_texts)
    if args.label_latents == "fit":  # each label's aggregate posterior, from the training split
        model.fit_label_latents(train_texts, train_labels)
    elif args.label_latents == "off":
        model.config.label_latents = None

    lm = AutoModel.from_pretrained(str(Path(args.fluency_lm) / "model")).eval() if args.fluency_lm else None
    start = time.perf_counter()
    out = controlled_decodes(model, dev_texts, dev_labels, args)
    seconds = time.perf_counter() - start
    labels, asked, greedy, nucleus = out["labels"], out["asked"], out["greedy"], out["nucleus"]
    sources, source_labels, targets, transferred, reconstructed = (out[k] for k in ("sources", "source_labels", "targets", "transferred", "reconstructed"))

    return {
        "run": str(run),
        "train_seconds": metrics["throughput"]["seconds"],
        "steps": recipe.train.max_steps,
        "judge_dev_accuracy": judge_dev,
        "label_latents": "used" if model.config.label_latents else "none",
        "guidance": args.guidance,
        "transfer_mode": args.transfer_mode if args.transfer_mode == "rewrite" else f"edit, salience threshold {args.edit_threshold:g}, lookahead {args.edit_lookahead}, share {args.edit_share:g}, γ {args.edit_guidance:g}",
        "fluency_lm": args.fluency_lm,
        "generation": generation_report(greedy, asked, classify, lm, args.self_bleu_limit),
        "generation_nucleus": generation_report(nucleus, asked, classify, lm, args.self_bleu_limit),
        "transfer": transfer_report(sources, transferred, targets, classify, lm),
        "reconstruction_bleu": bleu_to_source(reconstructed, sources),
        "decode_seconds": seconds,
        "samples_nucleus": {label: [t for t, a in zip(nucleus, asked) if a == label][: args.examples] for label in labels},
        "samples_greedy": {label: [t for t, a in zip(greedy, asked) if a == label][: args.examples] for label in labels},
        "transfer_examples": [{"source": s, "from": f, "to": t, "output": o} for s, f, t, o in list(zip(sources, source_labels, targets, transferred))[: args.examples * 2]],
    }


def reached(result: dict) -> dict:
    return {
        "nucleus label accuracy": result["generation_nucleus"]["label_accuracy"],
        "nucleus self-BLEU": result["generation_nucleus"]["self_bleu"],
        "transfer accuracy": result["transfer"]["transfer_accuracy"],
        "transfer BLEU to source": result["transfer"]["bleu_to_source"],
    }


def ppl(report: dict) -> str:
    return f"{report['fluency']['ppl']:.1f}" if report.get("fluency") else "–"


def markdown(name: str, result: dict, env: dict, command: str) -> str:
    g, n, t = result["generation"], result["generation_nucleus"], result["transfer"]
    lines = [
        f"# {name}: judged samples and transfer",
        "",
        f"`{command}` on {env['processor']}, {env['cpu_count']} cores, torch threads {env['torch_threads']} (torch {env['torch']}, transformers {env['transformers']}).",
        f"Run: {result['steps']} steps, {result['train_seconds'] / 60:.1f} min of training. Judge: logistic regression over all-MiniLM-L6-v2 embeddings fitted on the training split, "
        f"{result['judge_dev_accuracy']:.1%} on the real dev sentences.",
        f"Label latents (z drawn from each label's fitted aggregate posterior, transfer moving z by the difference of the labels' means): {result.get('label_latents', 'none')}.",
        f"Label guidance γ (samples and transfers; textae.models.guidance): {result.get('guidance', 0.0):g}."
        + (f" Fluency: PPL under the AR LM `{result['fluency_lm']}`." if result.get("fluency_lm") else ""),
        "",
        "| decoding | label acc | distinct-1 | distinct-2 | self-BLEU | fluency PPL |",
        "| --- | --- | --- | --- | --- | --- |",
        f"| greedy | {g['label_accuracy']:.1%} | {g['distinct_1']:.3f} | {g['distinct_2']:.3f} | {g['self_bleu']:.1f} | {ppl(g)} |",
        f"| nucleus | {n['label_accuracy']:.1%} | {n['distinct_1']:.3f} | {n['distinct_2']:.3f} | {n['self_bleu']:.1f} | {ppl(n)} |",
        "",
        f"Transfer ({result.get('transfer_mode', 'rewrite')}; every dev sentence to the other label): accuracy {t['transfer_accuracy']:.1%}, BLEU to source {t['bleu_to_source']:.1f}, fluency PPL {ppl(t)}; "
        f"reconstruction BLEU with the true label {result['reconstruction_bleu']:.1f} (BLEU lower-cased, punctuation split off on both sides).",
        "",
        "| target | wanted | reached | met |",
        "| --- | --- | --- | --- |",
    ]
    for key, value in reached(result).items():
        bound, sense = TARGETS[key]
        met = value >= bound if sense == ">=" else value <= bound
        shown = (lambda v: f"{v:.1%}") if "accuracy" in key else (lambda v: f"{v:.1f}")
        lines.append(f"| {key} | {sense} {shown(bound)} | {shown(value)} | {'yes' if met else 'no'} |")
    lines += ["", "Nucleus samples:", ""]
    for label, texts in result["samples_nucleus"].items():
        lines += [f"- **{label}**: " + " · ".join(texts)]
    lines += ["", "Transfer:", ""]
    lines += [f"- ({e['from']} → {e['to']}) {e['source']} → {e['output']}" for e in result["transfer_examples"]]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", help="a finished CVAE run folder (holding recipe.yaml, metrics.json and model/)")
    parser.add_argument("--name", required=True, help="names the result files: benchmarks/results/judge_{name}.*")
    parser.add_argument("--samples-per-label", type=int, default=200)
    parser.add_argument("--transfer-sentences", type=int, default=0, help="dev sentences to transfer (0: all)")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--top-p", type=float, default=0.9)
    parser.add_argument("--self-bleu-limit", type=int, default=300)
    parser.add_argument("--examples", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--label-latents", choices=("saved", "fit", "off"), default="saved",
        help="saved: as the model has them; fit: fit each label's aggregate posterior on the training split first; off: z ~ N(0, I) and unshifted transfer",
    )
    parser.add_argument("--guidance", type=float, default=0.0, help="label guidance γ for samples and transfers (0: plain decoding; see textae.models.guidance)")
    parser.add_argument("--transfer-mode", choices=("rewrite", "edit"), default="rewrite", help="rewrite: decode z under the target label (TextCVAE.transfer); edit: swap the source label's marker words (TextCVAE.edit)")
    parser.add_argument("--edit-threshold", type=float, default=0.0, help="--transfer-mode edit: the salience (nats) above which a word may be swapped")
    parser.add_argument("--edit-guidance", type=float, default=3.0, help="--transfer-mode edit: label guidance γ of the swapped words")
    parser.add_argument("--edit-lookahead", type=int, default=3, help="--transfer-mode edit: choose each swapped word by how well the next N source tokens follow it (0: the best next token)")
    parser.add_argument("--edit-share", type=float, default=0.25, help="--transfer-mode edit: the largest share of a sentence's words that may change")
    parser.add_argument("--fluency-lm", default=None, help="a finished AR LM run (family lm) on the same text: PPL of the samples and transfers under it")
    parser.add_argument("--results", default=str(REPO / "benchmarks" / "results"))
    args = parser.parse_args()
    run = finished_run(parser, args.run)
    result = judge(run, args)
    env = machine()
    command = "python benchmarks/judge_run.py " + " ".join(sys.argv[1:])
    payload = {"result": result, "reached": reached(result), "machine": env, "command": command}
    write_results(Path(args.results) / f"judge_{args.name}", payload, markdown(args.name, result, env, command))
    return 0


def finished_run(parser: argparse.ArgumentParser, folder: str) -> Path:
    """``folder`` as a Path, or the parser's error when it is not a finished run."""
    run = Path(folder)
    for needed in ("recipe.yaml", "metrics.json", "model"):
        if not (run / needed).exists():
            parser.error(f"{run} holds no {needed}: pass the folder of a finished run")
    return run


def write_results(stem: Path, payload: dict, text: str) -> None:
    """``stem``.json and ``stem``.md; the markdown is printed too."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(payload, indent=2))
    stem.with_suffix(".md").write_text(text)
    print(text)


if __name__ == "__main__":
    raise SystemExit(main())
