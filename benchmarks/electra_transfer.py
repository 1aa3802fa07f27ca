"""Why do the from-scratch encoders of the ELECTRA compute curve not beat a random init on SST-2?

``electra_curve.py`` pretrains a small ModernBERT-shaped encoder as ELECTRA and as a masked LM at 2, 7
and 20 TFLOPs and fine-tunes each on SST-2 at one learning rate (3e-4, 2 epochs). Neither objective
beats a random init there, and both lose accuracy from 2 to 7 TFLOPs. Two explanations predict
different things, and this benchmark measures both side by side on the curve's saved encoders:

* **the features**: pretraining on PTB news text does not produce features that tell sentiment, and
  more of it specialises them further. Then a **linear probe** on the frozen encoder (mean-pooled
  last-layer states, logistic regression) should be no better than on a random init, and fall with
  budget.
* **the fine-tuning**: the features are there, but one learning rate does not suit every encoder (a
  pretrained encoder may need a gentler one to keep what it learnt, a random one a larger one to learn
  at all). Then the probe should rise with budget, and the ranking should change across a **learning
  rate sweep** (``--lrs``, each over ``--seeds``), where training accuracy tells underfitting from
  overfitting.
* **the pooled position**: ModernBERT's classifier reads the first token's state by default
  (``classifier_pooling="cls"``), here [BOS], a position that neither pretraining objective trains (no
  detection label, never masked). A random encoder's [BOS] state mixes the whole sentence; a
  pretrained one's may not. The **pooling arm** fine-tunes every encoder again with
  ``classifier_pooling="mean"`` at ``--mean-lrs``, kept in its own file (``transfer_pooling.json``)
  so that it can run beside the rest.

The encoders are read from the curve's ``--work`` folder (``<objective>_<budget>/hf``); the random
init has the same config. Results are saved after every encoder under ``--work``/transfer.json, so a
rerun skips what is done.

    OMP_NUM_THREADS=1 python benchmarks/electra_transfer.py --work /tmp/electra/curve
    OMP_NUM_THREADS=1 python benchmarks/electra_transfer.py --work /tmp/electra/curve --parts pooling   # beside it

Results: benchmarks/results/electra_transfer.{json,md}; the tables are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import electra_curve as curve  # noqa: E402  (the tasks and the saved-part file)
import electra_vs_mlm as base  # noqa: E402  (the fine-tuning)

REPO = base.REPO


def encoder_dirs(work: Path, budgets: list[str]) -> dict[str, Path]:
    """name → HF folder: the random init first (the config of the first pretrained encoder), then each
    objective at each budget that the curve saved."""
    found = {f"{objective}_{budget}": work / f"{objective}_{budget}" / "hf" for budget in budgets for objective in ("electra", "mlm")}
    found = {name: path for name, path in found.items() if (path / "config.json").exists()}
    if not found:
        raise SystemExit(f"electra_transfer: no encoders under {work} (run benchmarks/electra_curve.py --parts scratch first)")
    return {"random_init": next(iter(found.values())), **found}


def mean_pooled(model, tok, texts: list[str], max_length: int) -> torch.Tensor:
    """Texts → [N, H]: the last layer's states averaged over the real tokens."""
    out = []
    with torch.no_grad():
        for i in range(0, len(texts), 128):
            batch = tok(texts[i : i + 128], padding=True, truncation=True, max_length=max_length, return_tensors="pt")
            states = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)
            out.append((states * mask).sum(1) / mask.sum(1))
    return torch.cat(out)


def linear_probe(args, encoder_dir: Path, tasks: dict, random_init: bool, seed: int) -> dict:
    """task → dev accuracy of a logistic regression on the frozen encoder's mean-pooled features."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    torch.manual_seed(seed)
    model = AutoModel.from_config(AutoConfig.from_pretrained(encoder_dir)) if random_init else AutoModel.from_pretrained(encoder_dir)
    model.eval()
    tok = AutoTokenizer.from_pretrained(encoder_dir)
    scores = {}
    for task, ((train_x, train_y), (dev_x, dev_y)) in tasks.items():
        features = [mean_pooled(model, tok, x, args.max_seq_length + 2).float().numpy() for x in (train_x, dev_x)]
        probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000, C=args.probe_c))
        probe.fit(features[0], train_y)
        scores[task] = float(probe.score(features[1], dev_y))
    return scores


def lr_sweep(args, tasks: dict, name: str, path: Path, lrs: list[float], **config) -> dict:
    """lr → the SST-2 fine-tuning of each seed (with its training accuracy); ``config`` overrides the
    classifier's config (the pooling arm)."""
    sweep = {}
    for lr in lrs:
        rows = [base.fine_tune(args, path, seed, *tasks["sst2"], random_init=name == "random_init", lr=lr, score_train=True, **config) for seed in args.seeds]
        sweep[f"{lr:g}"] = rows
        print(f"  {name} {config or ''} lr {lr:g}: dev {fmt([r['dev_accuracy'] for r in rows])}, train {fmt([r['train_accuracy'] for r in rows])}", flush=True)
    return sweep


def measure(args, tasks: dict, name: str, path: Path) -> dict:
    random_init = name == "random_init"
    probe_seeds = args.seeds if random_init else args.seeds[:1]  # a pretrained encoder's features do not depend on the seed
    probes = [linear_probe(args, path, tasks, random_init, seed) for seed in probe_seeds]
    return {"probe": {task: [p[task] for p in probes] for task in tasks}, "fine_tuning_sst2": lr_sweep(args, tasks, name, path, args.lrs)}


def measure_mean_pooling(args, tasks: dict, name: str, path: Path) -> dict:
    return {"fine_tuning_sst2_mean": lr_sweep(args, tasks, name, path, args.mean_lrs, classifier_pooling="mean")}


def fmt(values: list[float]) -> str:
    mean = statistics.mean(values) * 100
    return f"{mean:.2f} ± {statistics.stdev(values) * 100:.2f}" if len(values) > 1 else f"{mean:.2f}"


def sweep_table(results: dict, names: list[str], key: str) -> list[str]:
    lrs = list(results[names[0]][key])
    lines = ["| encoder | " + " | ".join(f"lr {lr}" for lr in lrs) + " |", "| --- |" + " --- |" * len(lrs)]
    for name in names:
        cells = []
        for lr in lrs:
            rows = results[name][key][lr]
            cells.append(f"{fmt([r['dev_accuracy'] for r in rows])} ({statistics.mean([r['train_accuracy'] for r in rows]) * 100:.1f})")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def report(args, results: dict, pooling: dict) -> str:
    names = [n for n in results if n != "settings"]
    lines = [
        "# Why the from-scratch encoders do not beat a random init on SST-2",
        "",
        f"Written by `benchmarks/electra_transfer.py` from the encoders of `benchmarks/electra_curve.py`. Machine: {platform.machine()}, "
        f"{os.cpu_count()} cores, torch {torch.__version__}; bf16 autocast {'on' if args.bf16 else 'off'}. Fine-tuning: SST-2, "
        f"{args.ft_epochs} epochs, batch {args.ft_batch_size}, seeds {args.seeds}. Accuracy ×100 on SST-2 dev (872 sentences), mean ± std.",
        "",
        "Linear probe on the frozen encoder (mean-pooled last-layer states, standardised, logistic regression "
        f"C = {args.probe_c:g}; the random init over {len(args.seeds)} init seeds):",
        "",
        "| encoder | SST-2 | SNIPS |",
        "| --- | --- | --- |",
    ]
    for name in names:
        probe = results[name]["probe"]
        lines.append(f"| {name} | {fmt(probe['sst2'])} | {fmt(probe['snips'])} |")
    lines += ["", "Fine-tuning on SST-2 at each learning rate, the classifier on [BOS] (ModernBERT's default), dev accuracy "
              "(training accuracy after fine-tuning in brackets):", "", *sweep_table(results, names, "fine_tuning_sst2")]
    pooled = [n for n in names if n in pooling]
    if pooled:
        lines += ["", "The same with the classifier on the mean of the token states (`classifier_pooling=\"mean\"`):", "",
                  *sweep_table(pooling, pooled, "fine_tuning_sst2_mean")]
    best = {name: max(statistics.mean([r["dev_accuracy"] for r in rows]) for rows in results[name]["fine_tuning_sst2"].values()) for name in names}
    lines += ["", "Best learning rate per encoder (dev accuracy, its own best over the sweep): "
              + ", ".join(f"{name} {value * 100:.2f}" for name, value in best.items()) + "."]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--work", type=Path, default=Path("/tmp/electra/curve"), help="electra_curve.py's --work folder")
    parser.add_argument("--results", default=str(REPO / "benchmarks" / "results" / "electra_transfer"))
    parser.add_argument("--budgets", nargs="+", default=["2", "7", "20"], help="the curve's budgets (TFLOPs) to read")
    parser.add_argument("--parts", nargs="+", choices=("probe", "pooling"), default=["probe", "pooling"],
                        help="probe: the linear probe and the LR sweep; pooling: the mean-pooling arm (each resumable; run them as two processes)")
    parser.add_argument("--lrs", type=float, nargs="+", default=[1e-4, 3e-4, 1e-3])
    parser.add_argument("--mean-lrs", type=float, nargs="+", default=[3e-4], help="learning rates of the mean-pooling arm")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--probe-c", type=float, default=1.0, help="inverse L2 strength of the probe's logistic regression")
    parser.add_argument("--max-seq-length", type=int, default=64)
    parser.add_argument("--ft-epochs", type=int, default=2)
    parser.add_argument("--ft-batch-size", type=int, default=32)
    parser.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None, help="bf16 autocast (default: where the hardware computes bf16)")
    args = parser.parse_args()
    if args.bf16 is None:
        from textae.training.precision import bf16_is_fast

        args.bf16 = bf16_is_fast(on_cpu=True)
    if not all((args.data / p).exists() for p in ("sst2/train.0.txt", "snips/train.tsv")):
        print(f"electra_transfer: SST-2 / SNIPS not found under {args.data} (pass --data)", file=sys.stderr)
        return 2
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    tasks = curve.task_data(args.data)
    parts = {"probe": (curve.PartFile(args.work / "transfer.json"), measure), "pooling": (curve.PartFile(args.work / "transfer_pooling.json"), measure_mean_pooling)}
    for which in args.parts:
        part, run = parts[which]
        for name, path in encoder_dirs(args.work, args.budgets).items():
            if part.done(name):
                print(f"{which} {name}: done before, skipped", flush=True)
                continue
            print(f"{which} {name}: {path}", flush=True)
            part.save(name, run(args, tasks, name, path))
    done = parts["probe"][0].data
    if not done:
        return 0
    text = report(args, done, parts["pooling"][0].data)
    print(text)
    Path(args.results + ".md").write_text(text)
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    Path(args.results + ".json").write_text(json.dumps({"settings": settings, "runs": done, "mean_pooling": parts["pooling"][0].data}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
