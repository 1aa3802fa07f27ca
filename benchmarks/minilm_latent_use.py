"""Does the all-MiniLM-L6-v2 CVAE's decoder read z? Side-by-side short runs of recipes/cvae_minilm_sst2.yaml,
each changing one thing, scored by the run's own final evaluation (metrics.json): the NLL of the dev
sentences decoded from their own posterior-mean z and from another sentence's (the z-shuffle rise), the
KL, MI and active units, and reconstruction.

A decoder that ignores its latent shows a rise of 0 whatever the KL; the variants with the KL term off
(``beta0``) ask whether the decoder learns to read z at all at this budget when nothing pushes the
posterior toward the prior.

    OMP_NUM_THREADS=1 python benchmarks/minilm_latent_use.py --work /tmp/minilm_latent_use            # every variant, 250 steps
    OMP_NUM_THREADS=1 python benchmarks/minilm_latent_use.py --work W --only base new_lr_bn1 --steps 40  # a probe
    OMP_NUM_THREADS=1 python benchmarks/minilm_latent_use.py --work W --reuse --extra new_lr_bn1:500      # the table, plus a longer run

Runs are one process each, one thread; two can share 2 cores (``--only``), then a last call with
``--reuse`` writes the table over all finished runs. Results: benchmarks/results/minilm_latent_use.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from cvae_control import machine  # noqa: E402

RECIPE = REPO / "recipes" / "cvae_minilm_sst2.yaml"
BETA0 = "train.loss_weights={kl: {kind: constant, value: 0.0}}"
NEW_LR = "train.new_learning_rate=1.0e-3"
BN1 = "model.bottleneck_options={free_bits: 0.5, mean_batchnorm: 1.0}"
DEFAULT_STEPS = 250
# the recipe before its two fixes (μ batch-normalised, new parts at their own rate): every variant starts here
BASE = ["model.bottleneck_options={free_bits: 0.5}", "train.new_learning_rate=null"]
VARIANTS = {
    "base": [],
    "new_lr": [NEW_LR],
    "new_lr_beta0": [NEW_LR, BETA0],
    "new_lr_beta0_pkv": [NEW_LR, BETA0, "model.latent_injection=past_key_values"],
    "new_lr_beta0_untied": [NEW_LR, BETA0, "model.tie_encoder_decoder=false"],
    "new_lr_beta0_wdrop0.5": [NEW_LR, BETA0, "model.word_dropout=0.5"],
    "new_lr_bn1": [NEW_LR, BN1],
    "new_lr_bn1_untied": [NEW_LR, BN1, "model.tie_encoder_decoder=false"],
    "new_lr_bn1_lr2e-4": [NEW_LR, BN1, "train.learning_rate=2.0e-4"],
}
WHAT = {
    "base": "the recipe without its two fixes: lr 5e-5 everywhere, cyclical β, free bits 0.5, cross-attention + embedding",
    "new_lr": "base + train.new_learning_rate 1e-3 (latent heads, injection, cross-attention, LM-head transform)",
    "new_lr_beta0": "new_lr + the KL term off (an autoencoder)",
    "new_lr_beta0_pkv": "new_lr_beta0 + z as per-layer keys / values (Optimus) instead of cross-attention",
    "new_lr_beta0_untied": "new_lr_beta0 + decoder weights not tied to the encoder's",
    "new_lr_beta0_wdrop0.5": "new_lr_beta0 + word dropout 0.5 on the decoder's input",
    "new_lr_bn1": "new_lr + μ batch-normalised to scale 1 per dimension (BN-VAE γ = 1): the recipe as shipped",
    "new_lr_bn1_untied": "new_lr_bn1 + decoder weights not tied to the encoder's",
    "new_lr_bn1_lr2e-4": "new_lr_bn1 + the pretrained backbone at learning rate 2e-4 instead of 5e-5",
}


def folder_name(name: str, steps: int) -> str:
    """A variant's run folder (and row): its name, with the steps when they are not the default."""
    return name if steps == DEFAULT_STEPS else f"{name}_{steps}steps"


def overrides(name: str, steps: int, args) -> list[str]:
    return [
        f"train.output_dir={Path(args.work) / folder_name(name, steps)}", f"train.max_steps={steps}", f"train.warmup_steps={max(1, steps // 10)}",
        "train.bf16=false", "train.eval_every=0", "train.save_every=0", "train.iw_samples=2", "train.show_reconstructions=8",
        *BASE, *VARIANTS[name],
    ]


def run(name: str, steps: int, args) -> dict:
    from textae.training import load_recipe, train

    folder = Path(args.work) / folder_name(name, steps)
    if not (args.reuse and (folder / "metrics.json").exists()):
        train(load_recipe(str(RECIPE), overrides(name, steps, args)), overwrite=True)
    metrics = json.loads((folder / "metrics.json").read_text())
    use, vae, rec = metrics["latent_use"], metrics["vae"], metrics["reconstruction"]
    return {
        "variant": name,
        "nll_own_z": use["nll_per_sentence"], "nll_other_z": use["shuffled_nll_per_sentence"], "z_shuffle_rise": use["rise_per_sentence"],
        # how far the posterior means of different sentences lie apart: Var_x of μ, the mean over dimensions
        "mean_spread": sum(vae["active_unit_variances"]) / len(vae["active_unit_variances"]),
        "kl": vae["kl_per_sentence"], "mi": vae["mutual_information"], "active_units": vae["active_units"], "latent_dim": vae["latent_dim"],
        "token_accuracy": rec["token_accuracy"], "bleu": rec["bleu"], "train_seconds": metrics["throughput"]["seconds"],
        "steps": metrics["throughput"]["steps"],
    }


def _pair(text: str) -> tuple[str, int]:
    name, _, steps = text.partition(":")
    if name not in VARIANTS or not steps.isdigit():
        raise SystemExit(f"--extra takes VARIANT:STEPS with a variant of {sorted(VARIANTS)}, got {text!r}")
    return name, int(steps)


def markdown(rows: dict, env: dict) -> str:
    lines = [
        f"# Does the MiniLM CVAE's decoder read z? (`{RECIPE.relative_to(REPO)}`, short runs)",
        "",
        f"Machine: {env['processor']}, {env['cpu_count']} cores, torch {env['torch']}, transformers {env['transformers']}; "
        "fp32, one thread per run, two runs side by side. SST-2 dev (872 sentences), the run's own final evaluation.",
        "",
        "| variant | what changes | steps | NLL own z | z-shuffle rise | KL | MI | Var_x μ per dim | active units | token acc | BLEU | train min |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in rows.items():
        lines.append(
            f"| {name} | {WHAT[r['variant']]} | {r['steps']} | {r['nll_own_z']:.1f} | +{r['z_shuffle_rise']:.2f} | {r['kl']:.1f} | {r['mi']:.2f} | {r['mean_spread']:.3f} | "
            f"{r['active_units']} | {100 * r['token_accuracy']:.1f}% | {r['bleu']:.1f} | {r['train_seconds'] / 60:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", required=True, help="a folder for the runs (one subfolder per variant)")
    parser.add_argument("--only", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    parser.add_argument("--extra", nargs="*", default=[], metavar="VARIANT:STEPS", help="more runs at other budgets, e.g. new_lr_bn1:500")
    parser.add_argument("--reuse", action="store_true", help="score finished runs in --work instead of training them again")
    parser.add_argument("--results", default=str(REPO / "benchmarks" / "results" / "minilm_latent_use"))
    args = parser.parse_args()
    runs = [(name, args.steps) for name in args.only] + [_pair(text) for text in args.extra]
    rows = {folder_name(name, steps): run(name, steps, args) for name, steps in runs}
    env = machine()
    Path(args.results).parent.mkdir(parents=True, exist_ok=True)
    Path(f"{args.results}.json").write_text(json.dumps({"settings": vars(args), "machine": env, "rows": rows}, indent=2))
    text = markdown(rows, env)
    Path(f"{args.results}.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
