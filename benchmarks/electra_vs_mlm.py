"""ELECTRA against a same-size masked LM at equal pretraining compute, judged by SST-2 fine-tuning.

Both pretrain the same small BERT encoder from scratch through textae's loop (families ``electra`` and
``mlm``) on unlabelled text: PTB train + SST-2 train sentences (labels
unused), with the same tokenizer, batches (same seed, same order), optimizer, schedule and precision.
**Equal compute = equal training FLOPs**: the forward + backward FLOPs of one step are counted with
``torch.utils.flop_counter.FlopCounterMode`` on the same batches for both objectives (ELECTRA's
includes its generator and the samples' vocabulary projection), and the MLM takes
``steps_electra × FLOPs_electra / FLOPs_mlm`` steps. The ELECTRA step count comes from a short probe
so that its pretraining takes about ``--pretrain-minutes``. Wall-clock of each run is recorded too
(on a shared machine it is noisier than FLOPs).

Each pretrained encoder is exported (``export_hf_encoder``) and fine-tuned on SST-2 train in plain
transformers (``AutoModelForSequenceClassification``, the same settings for all), then scored on SST-2
dev; the mean ± std over ``--seeds`` fine-tuning seeds is reported, with a randomly initialised
encoder of the same shape as a reference. An insertion-mode ELECTRA run (original / replaced /
inserted) reports its per-class accuracy.

    OMP_NUM_THREADS=1 python benchmarks/electra_vs_mlm.py                 # reads ../shared/data
    OMP_NUM_THREADS=1 python benchmarks/electra_vs_mlm.py --quick         # a smoke run (a few minutes)

Results: benchmarks/results/electra_vs_mlm.{json,md,png}; the table is printed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]

ENCODER = {
    "model_type": "bert",
    "hidden_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 512,
    "max_position_embeddings": 128,
}
# the same shape as ModernBERT (rotary positions, pre-LN, GeGLU, no biases): a discriminator that learns
# local context at this budget where BERT does not (results/electra_rtd_diagnosis.md)
ENCODERS = {"bert": ENCODER, "modernbert": {**{k: v for k, v in ENCODER.items() if k != "model_type"}, "model_type": "modernbert", "global_attn_every_n_layers": 1}}


# ---- data -----------------------------------------------------------------------------------------
def _lines(path: Path) -> list[str]:
    return [x.strip() for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def prepare_corpus(data: Path, out: Path) -> dict:
    """PTB train + SST-2 train sentences (unlabelled) for pretraining; PTB valid for its eval losses.
    PTB's ``<unk>`` becomes the tokenizer's [UNK]."""
    out.mkdir(parents=True, exist_ok=True)
    ptb = [x.replace("<unk>", "[UNK]") for x in _lines(data / "ptb" / "train.txt")]
    sst = _lines(data / "sst2" / "train.0.txt") + _lines(data / "sst2" / "train.1.txt")
    (out / "pretrain.txt").write_text("\n".join(ptb + sst) + "\n", encoding="utf-8")
    valid = [x.replace("<unk>", "[UNK]") for x in _lines(data / "ptb" / "valid.txt")][:512]
    (out / "pretrain_valid.txt").write_text("\n".join(valid) + "\n", encoding="utf-8")
    return {"ptb_train": len(ptb), "sst2_train": len(sst), "eval_ptb_valid": len(valid)}


def prepare_tokenizer(out: Path, vocab_size: int) -> Path:
    from textae.data import train_tokenizer

    folder = out / "tokenizer"
    if not (folder / "tokenizer.json").exists():
        tok = train_tokenizer(_lines(out / "pretrain.txt"), "wordpiece", vocab_size=vocab_size, lowercase=True)
        tok.save_pretrained(folder)
    return folder


def sst2(data: Path, split: str) -> tuple[list[str], list[int]]:
    texts, labels = [], []
    for label in (0, 1):
        for line in _lines(data / "sst2" / f"{split}.{label}.txt"):
            texts.append(line)
            labels.append(label)
    return texts, labels


# ---- pretraining through textae -----------------------------------------------------------------------
def recipe(args, name: str, steps: int, evaluate: bool = True, family: str = "electra", data: dict | None = None, train: dict | None = None, **model):
    """The pretraining recipe of run ``name``; ``data`` / ``train`` override the benchmark's settings
    (a pretrained encoder's tokenizer, its learning rates)."""
    from textae.training import load_recipe

    base = {
        "model": {"family": family, "encoder_config": ENCODERS[args.encoder], **model},
        "data": {
            "source": "files",
            "train_files": [str(args.work / "pretrain.txt")],
            "eval_files": [str(args.work / "pretrain_valid.txt")],
            "tokenizer": str(args.work / "tokenizer"),
            "max_seq_length": args.max_seq_length,
        },
        "train": {
            "output_dir": str(args.work / name),
            "seed": 0,
            "max_steps": steps,
            "batch_size": args.batch_size,
            "eval_batch_size": 128,
            "learning_rate": args.lr,
            "weight_decay": 0.01,
            "warmup_steps": max(1, steps // 20),
            "lr_scheduler": "linear",
            "bf16": args.bf16,
            "eval_every": max(1, steps // args.curve_points) if evaluate else 0,
            "save_every": 0,
            "log_every": max(1, steps // (4 * args.curve_points)),
        },
    }
    base["data"].update(data or {})
    base["train"].update(train or {})
    return load_recipe(None, [], base=base)


def flops_per_step(args, family: str, batches: int = 8, **settings) -> float:
    """Mean forward + backward FLOPs of one training step on the first ``batches`` training batches."""
    from torch.utils.data import DataLoader
    from torch.utils.flop_counter import FlopCounterMode

    from textae.data import LengthGroupedBatchSampler
    from textae.training.build import build_model
    from textae.training.build import make_collator, prepare_data

    r = recipe(args, f"flops_{family}", 10, family=family, **settings)
    tokenizer, train_ds, *_ = prepare_data(r)
    model = build_model(r, tokenizer)
    sampler = LengthGroupedBatchSampler(train_ds["length"], r.train.batch_size, seed=r.train.seed)
    loader = DataLoader(train_ds, batch_sampler=sampler, collate_fn=make_collator(model, r))
    total, n = 0, 0
    for i, batch in enumerate(loader):
        if i >= batches:
            break
        torch.manual_seed(i)
        counter = FlopCounterMode(display=False)
        with counter:
            model(**batch).loss.backward()
        total += counter.get_total_flops()
        n += 1
        model.zero_grad()
    return total / n


def pretrain(args, name: str, steps: int, evaluate: bool = True, **model) -> dict:
    from textae.training import train

    shutil.rmtree(args.work / name, ignore_errors=True)  # the JSONL log appends: start each run afresh
    result = train(recipe(args, name, steps, evaluate, **model))
    export = result.model.export_hf_encoder(args.work / name / "hf")
    m = result.metrics
    log = [json.loads(x) for x in (args.work / name / "logs" / "metrics.jsonl").read_text().splitlines()]
    return {
        "steps": steps,
        "train_seconds": m["throughput"]["seconds"],
        "tokens_per_second": m["throughput"]["tokens_per_second"],
        "train_tokens": m["throughput"]["tokens"],
        "eval": m["eval"],
        "report": m.get("electra", {}),
        "export": str(export),
        "log": log,
    }


# ---- fine-tuning in plain transformers ------------------------------------------------------------------
def length_grouped_batches(lengths: list[int], batch_size: int, gen: torch.Generator, megabatch: int = 50) -> list[list[int]]:
    """A random order cut into batches of similar length (less padding): shuffle, sort each run of
    ``megabatch`` batches by length, cut, shuffle the batches."""
    order = torch.randperm(len(lengths), generator=gen).tolist()
    size = batch_size * megabatch
    batches = []
    for start in range(0, len(order), size):
        chunk = sorted(order[start : start + size], key=lambda i: lengths[i])
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in torch.randperm(len(batches), generator=gen).tolist()]


def fine_tune(args, encoder_dir: Path, seed: int, train_set, dev_set, random_init: bool = False, lr: float | None = None, score_train: bool = False, **config) -> dict:
    """Train → dev accuracy (SST-2, or any labels 0..K-1) with AutoModelForSequenceClassification and a
    plain torch loop; ``lr`` overrides ``args.ft_lr``. ``score_train`` adds the accuracy on the training
    set after fine-tuning (does it fit, or fit and not generalise); ``config`` overrides fields of the
    classifier's config (ModernBERT's ``classifier_pooling="mean"``)."""
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer, get_scheduler

    tok = AutoTokenizer.from_pretrained(encoder_dir)
    texts, labels = train_set
    num_labels = max(labels) + 1
    torch.manual_seed(seed)
    if random_init:
        model = AutoModelForSequenceClassification.from_config(AutoConfig.from_pretrained(encoder_dir, num_labels=num_labels, **config))
    else:
        model = AutoModelForSequenceClassification.from_pretrained(encoder_dir, num_labels=num_labels, **config)
    enc = tok(texts, truncation=True, max_length=args.max_seq_length + 2)["input_ids"]
    total = math.ceil(len(enc) / args.ft_batch_size) * args.ft_epochs
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr or args.ft_lr, weight_decay=0.01)
    scheduler = get_scheduler("linear", optimizer, num_warmup_steps=total // 10, num_training_steps=total)
    gen = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    model.train()
    for _ in range(args.ft_epochs):
        for idx in length_grouped_batches([len(x) for x in enc], args.ft_batch_size, gen):
            batch = tok.pad({"input_ids": [enc[j] for j in idx]}, return_tensors="pt")
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
                loss = model(**batch, labels=torch.tensor([labels[j] for j in idx])).loss
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
    seconds = time.perf_counter() - start
    model.eval()
    result = {"seed": seed, "dev_accuracy": accuracy(args, model, tok, *dev_set), "seconds": seconds, "steps": total}
    if score_train:
        result["train_accuracy"] = accuracy(args, model, tok, *train_set)
    return result


def accuracy(args, model, tok, texts: list[str], labels: list[int]) -> float:
    correct = 0
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
        for i in range(0, len(texts), 128):
            batch = tok(texts[i : i + 128], padding=True, truncation=True, max_length=args.max_seq_length + 2, return_tensors="pt")
            pred = model(**batch).logits.argmax(-1)
            correct += int((pred == torch.tensor(labels[i : i + 128])).sum())
    return correct / len(texts)


# ---- report ------------------------------------------------------------------------------------------
def plot_curves(runs: dict, flops: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    styles = {"electra": ("tab:blue", "ELECTRA"), "mlm": ("tab:orange", "MLM"), "electra_insert": ("tab:green", "ELECTRA + insertion")}
    for name, run in runs.items():
        color, label = styles[name]
        per_step = flops["electra" if name == "electra_insert" else name] / 1e12
        train = [r for r in run["log"] if "train/loss_mlm" in r]
        evals = [r for r in run["log"] if "eval/loss" in r]
        axes[0].plot([r["step"] * per_step for r in train], [r["train/loss_mlm"] for r in train], color=color, label=f"{label}: {'generator ' if name != 'mlm' else ''}MLM loss (train)")
        axes[1].plot([r["step"] * per_step for r in evals], [r["eval/mlm_accuracy"] for r in evals], color=color, marker="o", ms=3, label=f"{label}: {'generator ' if name != 'mlm' else ''}MLM accuracy (eval)")
        if name != "mlm":
            axes[2].plot([r["step"] * per_step for r in evals], [r["eval/rtd_accuracy"] for r in evals], color=color, marker="o", ms=3, label=f"{label}: RTD accuracy (eval)")
            axes[2].plot([r["step"] * per_step for r in evals], [r["eval/rtd_auc"] for r in evals], color=color, ls="--", label=f"{label}: RTD AUC (eval)")
    titles = ("masked-LM loss (nats / masked token)", "masked-LM accuracy", "replaced-token detection")
    for ax, title in zip(axes, titles):
        ax.set_xlabel("pretraining compute (TFLOPs, forward + backward)")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Pretraining curves at equal FLOPs (PTB + SST-2 train text)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        names = [x.split(":", 1)[1].strip() for x in Path("/proc/cpuinfo").read_text().splitlines() if x.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    import transformers

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "torch_threads": torch.get_num_threads(),
        "load_average_at_start": os.getloadavg(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--work", type=Path, default=Path("/tmp/electra/bench"), help="run folders")
    parser.add_argument("--results", default=str(REPO / "benchmarks" / "results" / "electra_vs_mlm"))
    parser.add_argument("--pretrain-minutes", type=float, default=8.0, help="ELECTRA's pretraining wall-clock target (the probe sets its steps)")
    parser.add_argument("--electra-steps", type=int, default=None, help="fix ELECTRA's steps instead of probing")
    parser.add_argument("--insertion-fraction", type=float, default=0.3, help="insertion-mode run's steps as a fraction of ELECTRA's")
    parser.add_argument("--probe-steps", type=int, default=30)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--vocab-size", type=int, default=8000)
    parser.add_argument("--max-seq-length", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--curve-points", type=int, default=10)
    parser.add_argument("--ft-epochs", type=int, default=2)
    parser.add_argument("--ft-batch-size", type=int, default=32)
    parser.add_argument("--ft-lr", type=float, default=3e-4)
    parser.add_argument("--encoder", choices=sorted(ENCODERS), default="bert", help="the encoder of both arms (same shape)")
    parser.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None, help="bf16 autocast (default: where the hardware computes bf16)")
    parser.add_argument("--quick", action="store_true", help="smoke run: a few steps, one seed, results not written to the repo")
    args = parser.parse_args()
    if args.bf16 is None:
        from textae.training.precision import bf16_is_fast

        args.bf16 = bf16_is_fast(on_cpu=True)
    if not (args.data / "ptb" / "train.txt").exists() or not (args.data / "sst2" / "train.0.txt").exists():
        print(f"electra_vs_mlm: PTB / SST-2 not found under {args.data} (pass --data)", file=sys.stderr)
        return 2
    if args.quick:
        args.electra_steps, args.seeds, args.ft_epochs, args.curve_points = 20, [0], 1, 2
        args.results = str(args.work / "quick_results")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    clock, cpu_clock = time.perf_counter(), time.process_time()
    info = machine()
    counts = prepare_corpus(args.data, args.work)
    prepare_tokenizer(args.work, args.vocab_size)

    flops = {"electra": flops_per_step(args, "electra"), "mlm": flops_per_step(args, "mlm")}
    probe = None
    if args.electra_steps is None:
        probe = pretrain(args, "probe", args.probe_steps, evaluate=False)  # no evaluations inside the timed steps
        seconds_per_step = probe["train_seconds"] / args.probe_steps
        args.electra_steps = max(10, int(args.pretrain_minutes * 60 / seconds_per_step))
    steps = {
        "electra": args.electra_steps,
        "mlm": round(args.electra_steps * flops["electra"] / flops["mlm"]),
        "electra_insert": max(10, round(args.electra_steps * args.insertion_fraction)),
    }
    runs = {
        "electra": pretrain(args, "electra", steps["electra"]),
        "mlm": pretrain(args, "mlm", steps["mlm"], family="mlm"),
        "electra_insert": pretrain(args, "electra_insert", steps["electra_insert"], insertion_rate=0.1),
    }

    train_set, dev_set = sst2(args.data, "train"), sst2(args.data, "dev")
    fine = {}
    for name, source, random_init in (("electra", "electra", False), ("mlm", "mlm", False), ("random_init", "electra", True)):
        fine[name] = [fine_tune(args, Path(runs[source]["export"]), seed, train_set, dev_set, random_init) for seed in args.seeds]
        accs = [r["dev_accuracy"] for r in fine[name]]
        print(f"{name}: SST-2 dev accuracy {[round(a, 4) for a in accs]}", flush=True)

    summary = {name: dict(zip(("mean", "std"), _mean_std([r["dev_accuracy"] * 100 for r in rows]))) for name, rows in fine.items()}
    gap = summary["electra"]["mean"] - summary["mlm"]["mean"]
    ins = runs["electra_insert"]["report"]
    result = {
        "machine": info,
        "settings": {
            "encoder": ENCODERS[args.encoder],
            "generator": f"ELECTRA encoder, width / FFN / heads × 1/4 (hidden 32, 1 head, FFN 128), {ENCODER['num_hidden_layers']} layers, shared token embeddings",
            "tokenizer": f"WordPiece {args.vocab_size}, lowercased, trained on the pretraining text",
            "pretraining_text": counts,
            "max_seq_length": args.max_seq_length,
            "batch_size": args.batch_size,
            "learning_rate": args.lr,
            "schedule": "linear, 5% warm-up, AdamW (wd 0.01)" + (", bf16 autocast" if args.bf16 else ", fp32"),
            "mask_rate": 0.15,
            "rtd_weight": 50.0,
            "mlm_masking": "BERT 80/10/10",
            "equal_compute": "equal training FLOPs (forward + backward, FlopCounterMode, mean of 8 batches)",
            "flops_per_step": flops,
            "steps": steps,
            "probe": None if probe is None else {"steps": args.probe_steps, "seconds": probe["train_seconds"]},
            "fine_tuning": {"epochs": args.ft_epochs, "batch_size": args.ft_batch_size, "lr": args.ft_lr, "schedule": "linear, 10% warm-up, AdamW (wd 0.01), clip 1.0" + (", bf16 autocast" if args.bf16 else ", fp32"),
                            "model": "AutoModelForSequenceClassification (BertForSequenceClassification; pooler and classifier new)", "seeds": args.seeds,
                            "selection": "none: dev accuracy after the last epoch"},
            "insertion": {"rate": 0.1, "steps_fraction_of_electra": args.insertion_fraction, "fine_tuned": False},
        },
        "pretraining": {
            name: {k: v for k, v in run.items() if k != "log"} | {"tflops": steps[name] * flops["electra" if name == "electra_insert" else name] / 1e12}
            for name, run in runs.items()
        },
        "sst2_dev_accuracy": {"per_seed": fine, "summary": summary},
        "electra_minus_mlm_points": gap,
        "target": {"electra_minus_mlm_points": "≥ 2", "met": gap >= 2.0},
        "total_minutes": (time.perf_counter() - clock) / 60,
        "total_cpu_minutes": (time.process_time() - cpu_clock) / 60,
    }
    pre = result["pretraining"]

    def row(name, label):
        s, p = summary[name], pre.get(name)
        compute = f"{p['tflops']:.1f} | {p['steps']} | {p['train_seconds'] / 60:.1f} min" if p else "0 | 0 | –"
        seeds = " / ".join(f"{r['dev_accuracy'] * 100:.2f}" for r in fine[name])
        return f"| {label} | {compute} | {s['mean']:.2f} ± {s['std']:.2f} | {seeds} |"

    lines = [
        "| encoder (same shape) | pretraining TFLOPs | steps | wall-clock | SST-2 dev acc. (mean ± std) | per seed |",
        "| --- | --- | --- | --- | --- | --- |",
        row("electra", "ELECTRA (RTD, λ = 50)"),
        row("mlm", "masked LM (BERT 80/10/10)"),
        row("random_init", "no pretraining (random init)"),
        "",
        f"ELECTRA − MLM: {gap:+.2f} points (target ≥ +2: {'met' if gap >= 2 else 'not met'}).",
        "",
        f"| pretraining measure (PTB valid, first 512 sentences) | ELECTRA | MLM | ELECTRA + insertion ({args.insertion_fraction:g}× ELECTRA's steps) |",
        "| --- | --- | --- | --- |",
        f"| masked-LM accuracy (generator for ELECTRA) | {pre['electra']['report']['mlm_accuracy']:.3f} | {pre['mlm']['report']['mlm_accuracy']:.3f} | {ins['mlm_accuracy']:.3f} |",
        f"| RTD accuracy | {pre['electra']['report']['rtd_accuracy']:.3f} | – | {ins['rtd_accuracy']:.3f} |",
        f"| RTD AUC (corrupted vs original) | {pre['electra']['report']['rtd_auc']:.3f} | – | {ins['rtd_auc']:.3f} |",
        f"| accuracy on original tokens | {pre['electra']['report']['accuracy_original']:.3f} | – | {ins['accuracy_original']:.3f} |",
        f"| accuracy on replaced tokens | {pre['electra']['report']['accuracy_replaced']:.3f} | – | {ins['accuracy_replaced']:.3f} |",
        f"| accuracy on inserted tokens | – | – | {ins['accuracy_inserted']:.3f} |",
        f"| share of masked tokens the generator changed | {pre['electra']['report']['replaced_share']:.3f} | – | {ins['replaced_share']:.3f} |",
    ]
    table = "\n".join(lines)
    results = Path(args.results)
    results.parent.mkdir(parents=True, exist_ok=True)
    plot_curves(runs, flops, results.with_suffix(".png"))
    result["figure"] = str(results.with_suffix(".png").relative_to(REPO)) if results.is_relative_to(REPO) else str(results.with_suffix(".png"))
    results.with_suffix(".json").write_text(json.dumps(result, indent=2))
    header = (
        f"Machine: {info['cpu']}, {info['cores']} cores shared (load average {info['load_average_at_start'][0]:.1f} at start), "
        f"OMP_NUM_THREADS={info['omp_num_threads']}, torch {info['torch']}, transformers {info['transformers']}. "
        f"Total {result['total_minutes']:.1f} min wall-clock, {result['total_cpu_minutes']:.1f} min CPU.\n\n"
    )
    results.with_suffix(".md").write_text(header + table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
