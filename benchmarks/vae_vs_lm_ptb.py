"""The text VAE against the AR LM baseline on PTB, at the same budget, with an ablation of the VAE.

Every run trains through textae's loop with the same decoder (recipes/lm_ptb.yaml and
recipes/vae_ptb.yaml share ``decoder_config``; the script checks it), the same word-level tokenizer
trained on PTB train, the same data, and the same budget: steps, batch size, optimizer and LR schedule
(warm-up + cosine). The VAE adds an encoder and the latent injections the recipe names. Runs:

* ``lm``               — the AR LM baseline (family ``lm``): no latent;
* ``vae_constant``     — β = 1 from the first step, no free bits (no annealing);
* ``vae_linear``       — β rises linearly from 0 to 1 over the first half of training, no free bits;
* ``vae_cyclical``     — cyclical β (Fu et al. 2019, the recipe's cycles), no free bits;
* ``vae_cyclical_fb``  — cyclical β + free bits, as Optimus trains;
* ``vae_bn``           — β = 1 from the first step with a batch-normalised posterior mean (BN-VAE,
                         Zhu et al. 2020, γ = ``--bn-gamma``), no free bits.

The run named by ``--best`` (default ``vae_cyclical_fb``, recipes/vae_ptb.yaml's own setting) is the
one checked against the targets and shown: interpolation and prior samples.

Reported on the same PTB valid sentences for all runs: NLL per sentence (the LM's exact NLL; the VAE's
importance-weighted NLL with k samples, k stated), PPL = exp(NLL / tokens) per word with each
sentence's EOS counted (the unit of benchmarks/lm_ptb.py), and for the VAE −ELBO, KL, mutual
information I(x;z), active units and reconstruction BLEU. Interpolations between two real PTB valid
sentences and prior samples of the tuned VAE are printed and stored.

    python benchmarks/vae_vs_lm_ptb.py --threads 1 --out-dir /tmp/vaebench/runs
    python benchmarks/vae_vs_lm_ptb.py --steps 600 --only lm vae_cyclical_fb      # a quick probe
    python benchmarks/vae_vs_lm_ptb.py --out-dir /tmp/vaebench/runs --reuse --best vae_bn   # re-report finished runs, another one shown

Results go to benchmarks/results/vae_vs_lm_ptb.json and a markdown table to benchmarks/results/vae_vs_lm_ptb.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
RUNS = ("lm", "vae_constant", "vae_linear", "vae_cyclical", "vae_cyclical_fb", "vae_bn")
TARGETS = {"kl": 5.0, "mi": 2.0, "au_share": 0.5}
INTERPOLATE = ("the total borrowing will be about $ N million the company said", "he sits down at the piano and plays")


def _recipe_tree(name: str) -> dict:
    return yaml.safe_load((REPO / "recipes" / name).read_text())


def _flow(value) -> str:
    return json.dumps(value)  # JSON is YAML: a dict override in one token


def run_plan(args) -> dict[str, dict]:
    """name → {recipe, overrides, schedule, free_bits}: what each run changes."""
    vae = _recipe_tree("vae_ptb.yaml")
    options = dict(vae["model"].get("bottleneck_options") or {})
    options.pop("mean_batchnorm", None)
    cyclical = {"kind": "cyclical", "value": 1.0, "cycles": 4, "ratio_increase": 0.5, "ratio_zero": 0.25}
    constant = "train.loss_weights=" + _flow({"kl": {"kind": "constant", "value": 1.0}})
    no_fb = ["model.bottleneck_options=" + _flow({**options, "free_bits": 0.0})]
    fb = args.free_bits
    linear = {"kind": "linear", "value": 1.0, "start": 0.0, "warmup_steps": args.steps // 2}
    cyc_weights = "train.loss_weights=" + _flow({"kl": cyclical})
    cyc = f"{cyclical['cycles']} cycles, rise {cyclical['ratio_increase']:g}, held at 0 {cyclical['ratio_zero']:g}"
    return {
        "lm": {"recipe": "lm_ptb.yaml", "overrides": [], "schedule": "–", "free_bits": "–"},
        "vae_constant": {"recipe": "vae_ptb.yaml", "overrides": [constant, *no_fb], "schedule": "constant β = 1", "free_bits": 0.0},
        "vae_linear": {"recipe": "vae_ptb.yaml", "overrides": ["train.loss_weights=" + _flow({"kl": linear}), *no_fb], "schedule": f"linear 0→1 over {args.steps // 2} steps", "free_bits": 0.0},
        "vae_cyclical": {"recipe": "vae_ptb.yaml", "overrides": [cyc_weights, *no_fb], "schedule": f"cyclical ({cyc})", "free_bits": 0.0},
        "vae_cyclical_fb": {
            "recipe": "vae_ptb.yaml",
            "overrides": [cyc_weights, "model.bottleneck_options=" + _flow({**options, "free_bits": fb})],
            "schedule": f"cyclical ({cyc})",
            "free_bits": fb,
        },
        "vae_bn": {
            "recipe": "vae_ptb.yaml",
            "overrides": [constant, "model.bottleneck_options=" + _flow({**options, "free_bits": 0.0, "mean_batchnorm": args.bn_gamma})],
            "schedule": f"constant β = 1, BN on μ (γ = {args.bn_gamma:g})",
            "free_bits": 0.0,
        },
    }


def budget_overrides(args, name: str) -> list[str]:
    """What every run shares: data, eval sentences, steps, batch, optimizer, LR schedule, precision."""
    return [
        f"data.train_files=[{args.data}/train.txt]",
        f"data.eval_files=[{args.data}/valid.txt]",
        f"data.max_eval_examples={args.eval_sentences if args.eval_sentences > 0 else 'null'}",
        f"train.output_dir={args.out_dir}/{name}",
        f"train.max_steps={args.steps}",
        f"train.batch_size={args.batch_size}",
        # batches of the same sentences for every run: the LM recipe's packed rows would feed it more
        "train.pack_length=null",
        "train.compile=false",
        f"train.learning_rate={args.lr}",
        f"train.warmup_steps={args.warmup}",
        "train.lr_scheduler=cosine",
        f"train.bf16={str(args.bf16).lower()}",
        f"train.seed={args.seed}",
        f"train.iw_samples={args.iw_samples}",
        "train.save_every=0",
        "train.eval_every=0",
        "train.log_every=25",
        "train.show_reconstructions=3",
        "train.trackers=[jsonl]",
    ]


def check_same_decoder_and_data() -> None:
    lm, vae = _recipe_tree("lm_ptb.yaml"), _recipe_tree("vae_ptb.yaml")
    if lm["model"]["decoder_config"] != vae["model"]["decoder_config"]:
        raise SystemExit("recipes/lm_ptb.yaml and recipes/vae_ptb.yaml must share decoder_config for a fair comparison")
    for key in ("tokenizer", "vocab_size", "max_seq_length", "lowercase"):
        if lm["data"].get(key) != vae["data"].get(key):
            raise SystemExit(f"recipes/lm_ptb.yaml and recipes/vae_ptb.yaml differ in data.{key}")


def summarize(name: str, spec: dict, metrics: dict) -> dict:
    ev, tp = metrics["eval"], metrics["throughput"]
    row = {
        "run": name,
        "schedule": spec["schedule"],
        "free_bits": spec["free_bits"],
        "steps": tp["steps"],
        "train_seconds": tp["seconds"],
        "tokens_per_second": tp["tokens_per_second"],
        "sentences": ev["sentences"],
        "tokens": ev["tokens"],
    }
    vae = metrics.get("vae")
    if vae is None:  # the LM: its teacher-forced NLL is the exact NLL
        row.update(nll_per_sentence=ev["nll_per_sentence"], ppl=ev["ppl"], nll_kind="exact")
        return row
    if vae["tokens"] != ev["tokens"] or vae["sentences"] != ev["sentences"]:
        raise RuntimeError(f"{name}: the IW evaluation saw {vae['sentences']} sentences / {vae['tokens']} tokens, the teacher-forced one {ev['sentences']} / {ev['tokens']}")
    row.update(
        nll_per_sentence=vae["iw_nll_per_sentence"],
        ppl=vae["ppl_iw"],
        nll_kind=f"IW, k={vae['iw_samples']}",
        neg_elbo=vae["neg_elbo_per_sentence"],
        kl=vae["kl_per_sentence"],
        mi=vae["mutual_information"],
        active_units=vae["active_units"],
        latent_dim=vae["latent_dim"],
        reconstruction_nll_at_mean=ev["nll_per_sentence"],
        reconstruction_bleu=metrics["reconstruction"]["bleu"],
    )
    return row


def targets_of(row: dict, lm: dict | None) -> dict:
    out = {
        "kl": {"value": row["kl"], "target": f"≥ {TARGETS['kl']:g}", "met": row["kl"] >= TARGETS["kl"]},
        "mi": {"value": row["mi"], "target": f"≥ {TARGETS['mi']:g}", "met": row["mi"] >= TARGETS["mi"]},
        "active_units": {
            "value": f"{row['active_units']}/{row['latent_dim']}",
            "target": f"≥ {TARGETS['au_share']:.0%} of {row['latent_dim']}",
            "met": row["active_units"] >= TARGETS["au_share"] * row["latent_dim"],
        },
    }
    if lm is not None:
        out["iw_nll_vs_lm_nll"] = {"value": row["nll_per_sentence"], "target": f"≤ {lm['nll_per_sentence']:.2f} (the LM)", "met": row["nll_per_sentence"] <= lm["nll_per_sentence"]}
    return out


def _fmt(x, spec=".2f"):
    return "–" if x is None else format(x, spec)


def table(rows: list[dict], k: int) -> str:
    head = [
        f"| run | KL schedule | free bits λ | NLL/sentence (LM exact; VAE IW, k={k}) | PPL (per word + EOS) | −ELBO | KL | MI | AU | rec. BLEU | train time |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    body = []
    for r in rows:
        au = f"{r['active_units']}/{r['latent_dim']}" if "active_units" in r else "–"
        fb = r["free_bits"] if isinstance(r["free_bits"], str) else f"{r['free_bits']:g}"
        body.append(
            f"| {r['run']} | {r['schedule']} | {fb} | {r['nll_per_sentence']:.2f} | {r['ppl']:.1f} | {_fmt(r.get('neg_elbo'))} | "
            f"{_fmt(r.get('kl'))} | {_fmt(r.get('mi'))} | {au} | {_fmt(r.get('reconstruction_bleu'), '.1f')} | {r['train_seconds'] / 60:.1f} min |"
        )
    return "\n".join(head + body)


def showcase(model, args) -> dict:
    """Greedy decodes from the tuned VAE: an interpolation between two real valid sentences, and prior samples."""
    model.eval()
    a, b = args.interpolate
    path = model.interpolate(a, b, steps=args.interpolation_steps)
    torch.manual_seed(args.seed)
    samples = model.sample(args.samples)
    return {"interpolation": {"from": a, "to": b, "steps": path}, "prior_samples": samples, "decoding": "greedy; prior z ~ N(0, I) with torch.manual_seed(%d)" % args.seed}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "ptb"))
    parser.add_argument("--steps", type=int, default=1200, help="optimizer steps of every run")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1.5e-3)
    parser.add_argument("--warmup", type=int, default=100, help="LR warm-up steps (then cosine decay)")
    parser.add_argument("--iw-samples", type=int, default=10, help="importance samples k of the VAE's IW-NLL")
    parser.add_argument("--eval-sentences", type=int, default=1000, help="the first N sentences of PTB valid (0: all 3370)")
    parser.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None, help="bf16 autocast (default: where the hardware computes bf16; emulated it is many times slower)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--only", nargs="+", choices=RUNS, default=list(RUNS), help="a subset of the runs")
    parser.add_argument("--interpolate", nargs=2, default=list(INTERPOLATE), metavar=("A", "B"), help="two sentences to interpolate between")
    parser.add_argument("--interpolation-steps", type=int, default=7)
    parser.add_argument("--samples", type=int, default=8, help="prior samples to show")
    parser.add_argument("--best", choices=RUNS[1:], default="vae_cyclical_fb", help="the VAE run checked against the targets and shown")
    parser.add_argument("--bn-gamma", type=float, default=0.6, help="γ of vae_bn's batch-normalised posterior mean")
    parser.add_argument("--free-bits", type=float, default=0.2, help="λ of vae_cyclical_fb, nats per dimension")
    parser.add_argument("--reuse", action="store_true", help="load a finished run of the same recipe from --out-dir instead of training it again")
    parser.add_argument("--out-dir", default=str(REPO / "runs" / "bench_vae_vs_lm_ptb"))
    parser.add_argument("--results", default=str(REPO / "benchmarks" / "results" / "vae_vs_lm_ptb"))
    args = parser.parse_args()
    if args.bf16 is None:
        from textae.training.precision import bf16_is_fast

        args.bf16 = bf16_is_fast(on_cpu=not torch.cuda.is_available())
    if not Path(args.data, "train.txt").exists():
        print(f"vae_vs_lm_ptb: PTB not found at {args.data} (pass --data)", file=sys.stderr)
        return 2
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if args.threads:
        torch.set_num_threads(args.threads)
    check_same_decoder_and_data()

    from textae.training import load_recipe, train

    plan = run_plan(args)
    rows, started, show = [], time.time(), None
    load_before = os.getloadavg()
    for name in args.only:
        spec = plan[name]
        recipe = load_recipe(REPO / "recipes" / spec["recipe"], budget_overrides(args, name) + spec["overrides"])
        print(f"=== {name}: {spec['schedule']}, free bits {spec['free_bits']}", flush=True)
        metrics, model = finished_run(recipe) if args.reuse else (None, None)
        if metrics is None:
            result = train(recipe)
            metrics, model = result.metrics, result.model
        rows.append(summarize(name, spec, metrics))
        print("ROW " + json.dumps(rows[-1]), flush=True)
        if name == args.best:
            show = showcase(model, args)
        del model
        markdown = write_results(args, plan, rows, show, load_before, time.time() - started)  # after every run
    print(markdown)
    print(f"wall time {(time.time() - started) / 60:.1f} min")
    return 0


def finished_run(recipe):
    """(metrics, model) of a finished run of exactly this recipe in its output folder, else (None, None)."""
    from transformers import AutoModel

    run = Path(recipe.train.output_dir)
    saved = run / "recipe.yaml"
    same = saved.exists() and yaml.safe_load(saved.read_text()) == yaml.safe_load(yaml.safe_dump(recipe.to_dict(), sort_keys=False))
    if not (same and (run / "metrics.json").exists() and (run / "model" / "config.json").exists()):
        return None, None
    return json.loads((run / "metrics.json").read_text()), AutoModel.from_pretrained(str(run / "model")).eval()


def write_results(args, plan: dict, rows: list[dict], show: dict | None, load_before, seconds: float) -> str:
    lm = next((r for r in rows if r["run"] == "lm"), None)
    best = next((r for r in rows if r["run"] == args.best), None)
    done = [r["run"] for r in rows]
    result = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"{torch.get_num_threads()} torch thread(s); load average {load_before[0]:.1f} at the start (the CPU is shared)",
        "settings": {
            "steps": args.steps, "batch_size": args.batch_size, "learning_rate": args.lr, "lr_schedule": f"{args.warmup} warm-up steps, then cosine",
            "bf16": args.bf16, "seed": args.seed, "iw_samples": args.iw_samples,
            "eval": f"the first {args.eval_sentences} sentences of PTB valid" if args.eval_sentences > 0 else "all of PTB valid",
            "recipes": {"lm": "recipes/lm_ptb.yaml", "vae": "recipes/vae_ptb.yaml"},
            "vae_model": _recipe_tree("vae_ptb.yaml")["model"],
            "runs": {name: plan[name]["overrides"] for name in done},
        },
        "nll_unit": "nats per sentence, each sentence's EOS included",
        "ppl_unit": "per word of PTB, each sentence's EOS counted as a token (as benchmarks/lm_ptb.py)",
        "rows": rows,
        "complete": len(done) == len(args.only),
        "best": args.best,
        "targets_of_best": targets_of(best, lm) if best else None,
        "showcase": show,
        "wall_seconds": seconds,
    }
    text = [table(rows, args.iw_samples), ""]
    text.append(f"{result['settings']['eval']} ({rows[0]['sentences']} sentences, {rows[0]['tokens']} tokens); {args.steps} steps of batch {args.batch_size} for every run; {result['machine']}.")
    if not result["complete"]:
        text.append(f"Partial: {len(done)} of {len(args.only)} runs done.")
    if result["targets_of_best"]:
        text += ["", f"| target ({args.best}) | value | wanted | met |", "| --- | --- | --- | --- |"]
        for key, t in result["targets_of_best"].items():
            value = t["value"] if isinstance(t["value"], str) else f"{t['value']:.2f}"
            text.append(f"| {key} | {value} | {t['target']} | {'yes' if t['met'] else 'no'} |")
    if show:
        text += ["", f"{args.best}: interpolation ({args.interpolation_steps} points between the posterior means, greedy):", "", "```"]
        text += [f"{i / (len(show['interpolation']['steps']) - 1):.2f}  {s}" for i, s in enumerate(show["interpolation"]["steps"])]
        text += ["```", "", f"Prior samples ({show['decoding']}):", "", "```", *show["prior_samples"], "```"]
    markdown = "\n".join(text)
    Path(args.results).parent.mkdir(parents=True, exist_ok=True)
    Path(args.results + ".json").write_text(json.dumps(result, indent=2, ensure_ascii=False))
    Path(args.results + ".md").write_text(markdown + "\n")
    return markdown


if __name__ == "__main__":
    sys.exit(main())
