"""The VQ-VAE text tokenizer on PTB: textae's quantizer against vector-quantize-pytorch, and a
rate–distortion table.

1. Same model, data and budget, two quantizers: textae's :class:`~textae.modules.vq.VectorQuantizer`
   and ``vector_quantize_pytorch.VectorQuantize`` in its place (both: EMA codebooks with decay 0.99,
   k-means initialisation from the first batch, dead-code replacement, one codebook per head,
   commitment weight β = 0.25). Reported side by side: the share of codes used on PTB valid, dead
   codes, codebook perplexity, and greedy reconstruction token accuracy / exact match on PTB valid.
2. Rate–distortion: token accuracy against bits per token for r ∈ {1, 2, 4} and a few K / heads,
   set against the AR LM's entropy per token (its NLL on PTB valid in bits per token, the limit
   below which exact reconstruction is impossible).
3. The AR prior over the main run's codes: its bits per sentence, and sentences it samples.

Bits per token count PTB words, each sentence's EOS not counted; the LM's entropy is its NLL per
sentence (EOS prediction included) over the same words. By default it is the valid PPL that
benchmarks/lm_ptb.py measured for recipes/lm_ptb.yaml's settings (arm ``packed_2500`` of
benchmarks/results/lm_ptb.json, its token count checked against valid.txt); --lm-run scores a
trained TextLM instead, and ``--lm-arm ''`` trains one here.

    pip install -e ".[bench]"
    python benchmarks/vq_vs_vqpytorch.py                        # reads ../shared/data/ptb
    python benchmarks/vq_vs_vqpytorch.py --steps 4000 --rd-steps 1000 --prior-steps 1000   # a larger budget
    python benchmarks/vq_vs_vqpytorch.py --steps 4000 --only textae prior & python benchmarks/vq_vs_vqpytorch.py --steps 4000 --only vqpytorch rd lm; wait
    python benchmarks/vq_vs_vqpytorch.py --steps 4000                # two processes side by side, then the report from their caches

Each finished run is cached in OUT_DIR/NAME/bench.json; a rerun skips it (--fresh retrains).
Results go to benchmarks/results/vq_vs_vqpytorch.json and .md, and are printed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

ENCODER = "{model_type: bert, hidden_size: 128, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 256, max_position_embeddings: 96}"
DECODER = "{model_type: gpt2, n_embd: 128, n_layer: 2, n_head: 4, n_positions: 96}"
COMMON_VQ = {"ema": True, "decay": 0.99, "kmeans_init": True, "kmeans_iters": 10}
PEER_DEAD_THRESHOLD = 2  # vector-quantize-pytorch: a code whose EMA cluster size falls below 2 is replaced


# ---- vector-quantize-pytorch in textae's bottleneck ------------------------------------------------
def register_peer() -> None:
    """Registers the bottleneck "vqpytorch": textae's VQ bottleneck (same pooling, positions,
    projection) with ``vector_quantize_pytorch.VectorQuantize`` as its quantizer."""
    from torch import nn
    from vector_quantize_pytorch import VectorQuantize

    from textae.modules import register_bottleneck
    from textae.modules.vq import QuantizerOutput, VQBottleneck

    class PeerQuantizer(nn.Module):
        def __init__(self, dim, codebook_size=256, heads=1, decay=0.99, kmeans_init=True, kmeans_iters=10, threshold_ema_dead_code=PEER_DEAD_THRESHOLD, **ignored):
            super().__init__()
            self.codebook_size, self.groups, self.threshold = codebook_size, heads, threshold_ema_dead_code
            self.vq = VectorQuantize(
                dim=dim, codebook_size=codebook_size, heads=heads, separate_codebook_per_head=heads > 1, decay=decay,
                kmeans_init=kmeans_init, kmeans_iters=kmeans_iters, threshold_ema_dead_code=threshold_ema_dead_code, commitment_weight=1.0,
            )

        def forward(self, x):
            quantized, indices, loss = self.vq(x[None])
            indices = indices[0].view(x.shape[0], self.groups)
            counts = torch.stack([torch.bincount(indices[:, g], minlength=self.codebook_size) for g in range(self.groups)]).float()
            return QuantizerOutput(quantized=quantized[0], indices=indices, losses={"commitment": loss.sum()}, counts=counts)

        def indices_to_vectors(self, indices):
            idx = indices[None] if self.groups > 1 else indices[None, :, 0]
            return self.vq.get_output_from_indices(idx)[0]

        def dead_codes(self) -> int:
            return int((self.vq._codebook.cluster_size < self.threshold).sum())

    class PeerVQBottleneck(VQBottleneck):
        def build_quantizer(self, latent_dim, **options):
            return PeerQuantizer(latent_dim, **options)

    register_bottleneck("vqpytorch", PeerVQBottleneck)


# ---- runs -----------------------------------------------------------------------------------------
def _options(spec: dict) -> str:
    return "{" + ", ".join(f"{k}: {str(v).lower() if isinstance(v, bool) else v}" for k, v in spec.items()) + "}"


def vq_recipe(args, name: str, steps: int, options: dict, bottleneck: str = "vq"):
    from textae.training import load_recipe

    return load_recipe(
        REPO / "recipes" / "vq_ptb.yaml",
        [
            f"data.train_files=[{args.data}/train.txt]",
            f"data.eval_files=[{args.data}/valid.txt]",
            f"train.output_dir={args.out_dir}/{name}",
            f"train.max_steps={steps}",
            f"train.warmup_steps={min(100, steps // 10)}",
            f"train.learning_rate={args.lr}",
            f"train.batch_size={args.batch_size}",
            "train.save_every=0",
            "train.eval_every=0",
            "train.log_every=50",
            f"train.bf16={str(args.bf16).lower()}",
            f"model.latent_dim={args.latent_dim}",
            f"model.encoder_config={ENCODER}",
            f"model.decoder_config={DECODER}",
            f"model.bottleneck={bottleneck}",
            f"model.bottleneck_options={_options(options)}",
        ],
    )


def valid_texts(args) -> list[str]:
    return [line.strip() for line in Path(args.data, "valid.txt").read_text(encoding="utf-8").splitlines() if line.strip()]


def run_vq(args, name: str, steps: int, options: dict, bottleneck: str = "vq") -> dict:
    """Trains one VQ model through the textae loop (cached) and measures it on all of PTB valid."""
    cache = Path(args.out_dir, name, "bench.json")
    if cache.exists() and not args.fresh:
        cached = json.loads(cache.read_text())
        if cached.get("steps") == steps and cached.get("options") == options and cached.get("bottleneck") == bottleneck:
            return cached
        print(f"{name}: the cached run had other settings; retraining", flush=True)
    shutil.rmtree(Path(args.out_dir, name), ignore_errors=True)  # nothing stale (e.g. a prior over old codes) survives
    from textae.metrics.evaluation import reconstruction_scores
    from textae.training import train

    result = train(vq_recipe(args, name, steps, options, bottleneck))
    model = result.model.eval()
    start = time.perf_counter()
    rec = reconstruction_scores(model, valid_texts(args), batch_size=128, examples=5)
    vq = {k: v for k, v in result.metrics["vq"].items() if k not in ("code_counts",)}
    row = {
        "name": name,
        "bottleneck": bottleneck,
        "options": options,
        "steps": steps,
        "train_seconds": result.metrics["throughput"]["seconds"],
        "tokens_per_second": result.metrics["throughput"]["tokens_per_second"],
        "teacher_forced_token_accuracy": result.metrics["eval"]["next_token_accuracy"],
        "token_accuracy": rec["token_accuracy"],
        "exact_match": rec["exact_match"],
        "bleu": rec["bleu"],
        "examples": rec["examples"],
        "reconstruction_seconds": time.perf_counter() - start,
        "vq": vq,
        "run_dir": str(result.run_dir),
    }
    cache.write_text(json.dumps(row, indent=2))
    return row


def lm_entropy(args) -> dict:
    """The AR LM's NLL on PTB valid in bits per word (EOS not counted in the divisor, its prediction
    in the numerator) and per word + EOS. From, in this order: the TextLM of --lm-run; the valid PPL that benchmarks/lm_ptb.py measured for --lm-arm (its results file, all of
    PTB valid); else an LM trained here with --lm-steps."""
    cache = Path(args.out_dir, "lm_entropy.json")
    if cache.exists() and not args.fresh:
        return json.loads(cache.read_text())
    if args.lm_run:
        source = Path(args.lm_run) / "model"
        if not (source / "config.json").exists():
            raise SystemExit(f"vq_vs_vqpytorch: --lm-run {args.lm_run} holds no trained model ({source}/config.json is missing)")
        out = lm_entropy_of_model(args, _load_lm(source), f"the TextLM of {args.lm_run}")
    elif args.lm_arm and Path(args.lm_results).exists():
        out = lm_entropy_from_results(args)
    else:
        out = lm_entropy_of_model(args, _train_lm(args), f"recipes/lm_ptb.yaml trained here for {args.lm_steps} steps")
    cache.write_text(json.dumps(out, indent=2))
    return out


def _load_lm(source: Path):
    from transformers import AutoModel

    import textae  # noqa: F401

    return AutoModel.from_pretrained(str(source)).eval()


def _train_lm(args):
    from textae.training import load_recipe, train

    recipe = load_recipe(REPO / "recipes" / "lm_ptb.yaml", [
        f"data.train_files=[{args.data}/train.txt]", f"data.eval_files=[{args.data}/valid.txt]", f"train.output_dir={args.out_dir}/lm",
        f"train.max_steps={args.lm_steps}", "train.save_every=0", "train.eval_every=0", f"train.bf16={str(args.bf16).lower()}",
    ])
    return train(recipe).model.eval()


def _entropy(total_bits: float, words: int, sentences: int, source: str) -> dict:
    return {
        "source": source,
        "bits_per_token": total_bits / words,
        "bits_per_token_with_eos": total_bits / (words + sentences),
        "bits_per_sentence": total_bits / sentences,
        "ppl_per_word_with_eos": 2 ** (total_bits / (words + sentences)),
    }


def lm_entropy_from_results(args) -> dict:
    """Converts the valid PPL per word + EOS that benchmarks/lm_ptb.py measured into bits, after
    checking that its token count is this file's words + one EOS per sentence."""
    results = json.loads(Path(args.lm_results).read_text())
    arm = results.get("arms", {}).get(args.lm_arm)
    if arm is None:
        raise SystemExit(f"vq_vs_vqpytorch: {args.lm_results} has no arm {args.lm_arm!r} (arms: {', '.join(results.get('arms', {}))})")
    texts = valid_texts(args)
    words = sum(len(t.split()) for t in texts)
    if arm["valid_tokens"] != words + len(texts):
        raise SystemExit(f"vq_vs_vqpytorch: {args.lm_results} arm {args.lm_arm} counted {arm['valid_tokens']} valid tokens, "
                         f"but {args.data}/valid.txt has {words} words + {len(texts)} EOS")
    total_bits = math.log2(arm["valid_ppl"]) * arm["valid_tokens"]
    source = (f"benchmarks/lm_ptb.py arm {args.lm_arm} (recipes/lm_ptb.yaml's settings, {arm['steps']} steps; "
              f"its measured valid PPL {arm['valid_ppl']:.1f} over {arm['valid_tokens']:,} tokens, read from {Path(args.lm_results).name})")
    return _entropy(total_bits, words, len(texts), source)


def lm_entropy_of_model(args, lm, source: str) -> dict:
    texts = valid_texts(args)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
        nll = lm.score(texts, batch_size=128)  # nats per sentence, EOS included
    words = sum(len(ids) for ids in lm._tokenize(texts))
    return _entropy(float(nll.sum()) / math.log(2), words, len(texts), source)


def prior_samples(args, run_dir: str, n: int = 8) -> dict:
    """Trains the AR prior over the codes of ``run_dir`` (cached) and decodes ``n`` samples."""
    from transformers import AutoModel

    from textae.training.prior import train_prior

    cache = Path(run_dir, "prior_bench.json")
    if cache.exists() and not args.fresh:
        return json.loads(cache.read_text())
    model = AutoModel.from_pretrained(str(Path(run_dir) / "model")).eval()
    result = train_prior(run_dir, [f"model.decoder_config={DECODER}", f"train.max_steps={args.prior_steps}", "train.eval_every=0",
                                   f"train.bf16={str(args.bf16).lower()}", "train.learning_rate=2.0e-3"], vq_model=model)
    model.load_prior(Path(run_dir) / "prior")
    torch.manual_seed(args.seed)
    samples = model.sample(n, temperature=1.0)
    ev = result.metrics["eval"]
    out = {
        "steps": args.prior_steps,
        "train_seconds": result.metrics["throughput"]["seconds"],
        "bits_per_sentence": ev["nll_per_sentence"] / math.log(2),
        "ppl_per_code": ev["ppl"],
        "samples": samples,
    }
    cache.write_text(json.dumps(out, indent=2))
    return out


# ---- tables ---------------------------------------------------------------------------------------
def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def comparison_table(rows: list[dict]) -> str:
    lines = [
        "| quantizer | bits / token | codes used | dead codes (valid) | codebook perplexity | token accuracy | exact match | teacher-forced accuracy | train time |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        v = r["vq"]
        lines.append(
            f"| {r['label']} | {v['bits_per_token']:.2f} | {_pct(v['codes_used'])} | {v['dead_codes']} / {v['codes_total']} | "
            f"{v['codebook_perplexity']:.1f} of {v['codebook_size']} | {_pct(r['token_accuracy'])} | {_pct(r['exact_match'])} | "
            f"{_pct(r['teacher_forced_token_accuracy'])} | {r['train_seconds'] / 60:.1f} min |"
        )
    return "\n".join(lines)


def rd_table(rows: list[dict], lm: dict) -> str:
    lines = [
        "| r | heads | K | bits / token | bits / sentence | codes / sentence | codes used | token accuracy | exact match | compression vs word tokens (bits) | steps |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in sorted(rows, key=lambda r: -r["vq"]["bits_per_token"]):
        v, o = r["vq"], r["options"]
        lines.append(
            f"| {o['downsample']} | {o['heads']} | {o['codebook_size']} | {v['bits_per_token']:.2f} | {v['bits_per_sentence']:.1f} | {v['codes_per_sentence']:.1f} | "
            f"{_pct(v['codes_used'])} | {_pct(r['token_accuracy'])} | {_pct(r['exact_match'])} | {v['compression_vs_tokenizer_bits']:.2f}× | {r['steps']} |"
        )
    lines.append(f"| AR LM entropy | | | {lm['bits_per_token']:.2f} | {lm['bits_per_sentence']:.1f} | | | | | | |")
    return "\n".join(lines)


PARTS = ("textae", "vqpytorch", "rd", "lm", "prior")


def train_parts(args, main_options: dict) -> int:
    """Fills the caches of the parts named by --only (the prior needs the textae run's cache)."""
    if "textae" in args.only or "prior" in args.only:
        ours = run_vq(args, "textae", args.steps, {**main_options, **COMMON_VQ, "dead_code_steps": args.dead_code_steps})
    if "vqpytorch" in args.only:
        run_vq(args, "vqpytorch", args.steps, {**main_options, **COMMON_VQ, "threshold_ema_dead_code": PEER_DEAD_THRESHOLD}, bottleneck="vqpytorch")
    if "rd" in args.only:
        for point in filter(None, args.rd.split(",")):
            r, heads, k = (int(x) for x in point.split(":"))
            run_vq(args, f"rd_r{r}_h{heads}_k{k}", args.rd_steps, {"downsample": r, "codebook_size": k, "heads": heads, **COMMON_VQ, "dead_code_steps": args.dead_code_steps})
    if "lm" in args.only:
        lm_entropy(args)
    if "prior" in args.only:
        prior_samples(args, ours["run_dir"])
    print(f"trained {', '.join(args.only)} into {args.out_dir}; run again without --only to report", flush=True)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "ptb"))
    parser.add_argument("--steps", type=int, default=2000, help="steps of each run of the quantizer comparison")
    parser.add_argument("--rd-steps", type=int, default=400, help="steps of each extra rate–distortion run")
    parser.add_argument("--prior-steps", type=int, default=400)
    parser.add_argument("--lm-run", default=None, help="a trained TextLM run for the entropy")
    parser.add_argument("--lm-results", default=str(REPO / "benchmarks" / "results" / "lm_ptb.json"), help="benchmarks/lm_ptb.py's results, used without --lm-run")
    parser.add_argument("--lm-arm", default="packed_2500", help="the arm of --lm-results whose valid PPL gives the entropy ('' trains an LM instead)")
    parser.add_argument("--lm-steps", type=int, default=1500)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--latent-dim", type=int, default=64)
    parser.add_argument("--codebook-size", type=int, default=256)
    parser.add_argument("--heads", type=int, default=2)
    parser.add_argument("--dead-code-steps", type=int, default=10)
    parser.add_argument("--rd", default="2:2:256,4:4:256,1:1:256,4:2:1024", help="extra rate–distortion points r:heads:K (the comparison's is included)")
    parser.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None, help="bf16 autocast (default: where the hardware computes bf16; emulated it is many times slower)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fresh", action="store_true", help="retrain runs even when cached")
    parser.add_argument("--only", nargs="+", choices=PARTS, help="train only these parts into their caches and stop (no report): "
                        "parts can run in separate processes side by side, and a call without --only then reports from the caches")
    parser.add_argument("--out-dir", default="/tmp/vq/bench")
    parser.add_argument("--results", default=str(REPO / "benchmarks" / "results" / "vq_vs_vqpytorch"))
    args = parser.parse_args()
    if args.bf16 is None:
        from textae.training.precision import bf16_is_fast

        args.bf16 = bf16_is_fast(on_cpu=not torch.cuda.is_available())
    if not Path(args.data, "train.txt").exists():
        print(f"vq_vs_vqpytorch: PTB not found at {args.data} (pass --data)", file=sys.stderr)
        return 2
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import vector_quantize_pytorch  # noqa: F401  (fail early: pip install -e ".[bench]")
    from importlib.metadata import version

    import textae  # noqa: F401

    register_peer()
    wall = time.perf_counter()
    main_options = {"downsample": 1, "codebook_size": args.codebook_size, "heads": args.heads}
    if args.only:
        return train_parts(args, main_options)
    ours = run_vq(args, "textae", args.steps, {**main_options, **COMMON_VQ, "dead_code_steps": args.dead_code_steps})
    peer = run_vq(args, "vqpytorch", args.steps, {**main_options, **COMMON_VQ, "threshold_ema_dead_code": PEER_DEAD_THRESHOLD}, bottleneck="vqpytorch")
    ours["label"] = f"textae VectorQuantizer (dead after {args.dead_code_steps} unused forwards)"
    peer["label"] = f"vector-quantize-pytorch {version('vector-quantize-pytorch')} VectorQuantize (dead below EMA size {PEER_DEAD_THRESHOLD})"
    rd_rows = [ours]
    for point in filter(None, args.rd.split(",")):
        r, heads, k = (int(x) for x in point.split(":"))
        options = {"downsample": r, "codebook_size": k, "heads": heads, **COMMON_VQ, "dead_code_steps": args.dead_code_steps}
        rd_rows.append(run_vq(args, f"rd_r{r}_h{heads}_k{k}", args.rd_steps, options))
    lm = lm_entropy(args)
    prior = prior_samples(args, ours["run_dir"])
    training_minutes = sum(r["train_seconds"] for r in [peer, *rd_rows]) / 60 + prior["train_seconds"] / 60
    result = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores (shared with other jobs), torch {torch.__version__}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}",
        "settings": {
            "data": "PTB (Mikolov), word-level tokenizer of 10,010 entries trained on train; evaluation on all 3,370 valid sentences",
            "model": {"encoder": ENCODER, "decoder": DECODER, "latent_dim": args.latent_dim, "memory": "one cross-attention slot per latent position"},
            "train": {"batch_size": args.batch_size, "learning_rate": args.lr, "schedule": "cosine, warm-up min(100, steps/10)", "bf16": args.bf16,
                      "comparison_steps": args.steps, "rd_steps": args.rd_steps, "prior_steps": args.prior_steps},
            "quantizers": {"both": COMMON_VQ | {"beta": 0.25}, "textae_dead_code_steps": args.dead_code_steps, "vqpytorch_threshold_ema_dead_code": PEER_DEAD_THRESHOLD},
            "token_accuracy": "greedy reconstruction from the codes, share of reference words matched at the same position",
            "bits_per_token": "codes' bits / PTB words (EOS not counted)",
        },
        "versions": {"vector-quantize-pytorch": version("vector-quantize-pytorch"), "transformers": version("transformers")},
        "comparison": {"textae": ours, "vqpytorch": peer},
        "rate_distortion": rd_rows,
        "lm_entropy": lm,
        "prior": prior,
        "training_minutes": training_minutes,
        "benchmark_wall_minutes_this_call": (time.perf_counter() - wall) / 60,
    }
    md = "\n".join([
        f"Machine: {result['machine']}.",
        "",
        f"Same model, data and budget ({args.steps} steps, batch {args.batch_size}); PTB valid (3,370 sentences):",
        "",
        comparison_table([ours, peer]),
        "",
        f"Rate–distortion on PTB valid (comparison run: {args.steps} steps; other points: {args.rd_steps} steps each):",
        "",
        rd_table(rd_rows, lm),
        "",
        f"AR LM entropy: {lm['source']}; {lm['bits_per_token']:.2f} bits per word ({lm['bits_per_token_with_eos']:.2f} per word + EOS, PPL {lm['ppl_per_word_with_eos']:.1f}).",
        "",
        f"Prior over the codes of the textae run ({prior['steps']} steps): {prior['bits_per_sentence']:.1f} bits per sentence "
        f"(the codes' uniform rate: {ours['vq']['bits_per_sentence']:.1f}); samples, decoded greedily:",
        "",
        *[f"- {s}" for s in prior["samples"]],
    ])
    Path(args.results).parent.mkdir(parents=True, exist_ok=True)
    Path(args.results + ".json").write_text(json.dumps(result, indent=2))
    Path(args.results + ".md").write_text(md + "\n")
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
