"""How much of the label does a CVAE's latent carry? A probe, side by side over finished runs.

A CVAE generates a label's text from z ~ N(0, I) joined to that label, and transfers a sentence by
keeping its z and changing the label. Both work only as far as z leaves the label to the label: a z
that holds the sentiment itself brings a random one when sampled and the source's one when
transferred. This measures that directly. Every sentence is encoded under one fixed label (so the
label input says nothing), and a logistic regression reads the true label off the posterior means
of the run's training split; its accuracy on the run's eval split is the figure (chance: the
majority label's share). A run whose z holds no label scores near chance. A second figure encodes
each sentence under its own label, as ``transfer`` does: what a label adversary
(``model.label_adversary``) is trained to remove.

    python benchmarks/label_in_z.py runs/cvae_minilm_sst2 runs/cvae_sst2

Results: benchmarks/results/label_in_z.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from cvae_control import _texts_and_labels, machine  # noqa: E402


def probe(run: Path, seed: int) -> dict:
    from sklearn.linear_model import LogisticRegression
    from transformers import AutoModel

    import textae  # noqa: F401  (registers the textae Auto classes)
    from textae.training import load_recipe

    recipe = load_recipe(str(run / "recipe.yaml"))
    model = AutoModel.from_pretrained(str(run / "model")).eval()
    fixed = model.label_names[0]
    (train_texts, train_labels), (dev_texts, dev_labels) = (_texts_and_labels(recipe, split) for split in ("train", "eval"))

    def accuracy(train_under, dev_under) -> float:
        train_z, dev_z = (model.encode(texts, labels=under).numpy() for texts, under in ((train_texts, train_under), (dev_texts, dev_under)))
        return float(LogisticRegression(max_iter=2000, random_state=seed).fit(train_z, train_labels).score(dev_z, dev_labels))

    return {
        "run": str(run),
        "encoded_under": fixed,
        "probe_accuracy": accuracy(fixed, fixed),
        "probe_accuracy_own_label": accuracy(train_labels, dev_labels),
        "majority_share": Counter(dev_labels).most_common(1)[0][1] / len(dev_labels),
        "latent_dim": int(model.config.latent_dim),
        "train_sentences": len(train_texts),
        "eval_sentences": len(dev_texts),
    }


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def markdown(rows: list[dict], env: dict, command: str) -> str:
    lines = [
        "# How much of the label does z carry?",
        "",
        f"`{command}` on {env['processor']}, {env['cpu_count']} cores, torch threads {env['torch_threads']} (torch {env['torch']}, transformers {env['transformers']}).",
        "Every sentence encoded under one fixed label, then under its own label; each time a logistic regression on the posterior means of the training split, scored on the eval split.",
        "",
        "| run | latent dim | label from z, fixed label (eval) | label from z, own label (eval) | majority share | sentences (train / eval) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| {r['run']} | {r['latent_dim']} | {r['probe_accuracy']:.1%} | {_percent(r.get('probe_accuracy_own_label'))} | {r['majority_share']:.1%} | {r['train_sentences']} / {r['eval_sentences']} |" for r in rows
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="finished CVAE run folders (recipe.yaml and model/)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--results", default=str(REPO / "benchmarks" / "results" / "label_in_z"))
    args = parser.parse_args()
    for run in args.runs:
        if not (run / "recipe.yaml").exists() or not (run / "model").exists():
            parser.error(f"{run} holds no recipe.yaml and model/: pass the folder of a finished CVAE run")
    torch.set_num_threads(args.threads)
    rows = [probe(run, args.seed) for run in args.runs]
    env, command = machine(), "python benchmarks/label_in_z.py " + " ".join(sys.argv[1:])
    out = Path(args.results)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"rows": rows, "machine": env, "command": command}, indent=2))
    text = markdown(rows, env, command)
    out.with_suffix(".md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
