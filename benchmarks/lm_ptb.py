"""The AR LM on PTB: textae's loop against plain ``transformers.Trainer``, at equal steps, at equal
wall-clock and to equal quality.

Arms (each a separate process with one thread, run two at a time so that both sides of a comparison
meet the same load on the machine):

* ``trainer``  GPT2LMHeadModel + transformers.Trainer: random batches of 32 sentences, AdamW, cosine;
* ``textae``   the same model and settings through textae's loop (random batches, the defaults);
* ``packed``   the same model and optimizer through textae's loop with packed rows and torch.compile
               (``--packed-steps`` steps of ``--packed-rows`` rows × ``--pack-length`` tokens);
* ``recipe``   ``recipes/lm_ptb.yaml`` as it ships (the best recipe found for a 1-hour budget);
* ``groupedM`` the ``textae`` arm with length-sorted mega-batches of M batches (``train.group_by_length``),
               at the first of ``--steps``: the padding saved against the gradient's length bias.

Every arm evaluates on PTB valid every ``--eval-every`` steps; the training clock leaves evaluation
out. PPL is per word of PTB valid with each sentence's EOS counted: the token count is checked
against the file (words + lines). Reported: PPL at equal steps (ratio to the Trainer), the PPL of
each textae arm when it has trained as long as the Trainer's longest run, and the time each arm
needs to reach the Trainer's final PPL.

    python benchmarks/lm_ptb.py                                # steps 1000 and 6000, every arm
    python benchmarks/lm_ptb.py --steps 1000 --arms textae,trainer
    python benchmarks/lm_ptb.py --reuse                        # re-report finished arms

Results: benchmarks/results/lm_ptb.{json,md}; each arm's own result in --out-dir.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# the settings both sides share: recipes/lm_ptb.yaml's model as the peer has always been run
PARITY = {
    "decoder_config": {"model_type": "gpt2", "n_embd": 256, "n_layer": 4, "n_head": 4, "n_positions": 96, "resid_pdrop": 0.2, "embd_pdrop": 0.2, "attn_pdrop": 0.1},
    "batch_size": 32,
    "learning_rate": 1.5e-3,
    "weight_decay": 0.1,
    "adam_beta2": 0.999,
    "warmup_steps": 300,
    "lr_scheduler": "cosine",
    "max_grad_norm": 1.0,
    "max_seq_length": 90,
    "seed": 0,
}


def valid_token_count(path: Path) -> tuple[int, int, int]:
    """Words, sentences and words + one EOS per sentence of a PTB file (whitespace-split)."""
    lines = [line.split() for line in path.read_text().splitlines() if line.strip()]
    words = sum(len(x) for x in lines)
    return words, len(lines), words + len(lines)


def _parity_recipe(args, arm: str, steps: int, out: Path):
    from textae.training import load_recipe

    p = PARITY
    base = {
        "model": {"family": "lm", "decoder_config": p["decoder_config"]},
        "data": {"source": "files", "train_files": [f"{args.data}/train.txt"], "eval_files": [f"{args.data}/valid.txt"], "tokenizer": "wordlevel", "vocab_size": 10010, "max_seq_length": p["max_seq_length"]},
        "train": {k: p[k] for k in ("batch_size", "learning_rate", "weight_decay", "adam_beta2", "warmup_steps", "lr_scheduler", "max_grad_norm", "seed")},
    }
    every = args.packed_eval_every if arm == "packed" else args.eval_every
    overrides = [f"train.output_dir={out}", f"train.max_steps={steps}", f"train.bf16={str(args.bf16).lower()}", "train.save_every=0", f"train.eval_every={every}", "train.eval_batch_size=128", "train.log_every=100", "train.trackers=[jsonl]"]
    if arm == "packed":
        overrides += [f"train.pack_length={args.pack_length}", f"train.batch_size={args.packed_rows}", "train.compile=true"]
    if arm.startswith("grouped"):
        overrides += ["train.group_by_length=true", f"train.megabatch_mult={int(arm.removeprefix('grouped'))}"]
    return load_recipe(None, overrides, base=base)


def _recipe_arm(args, steps: int | None, out: Path):
    from textae.training import load_recipe

    overrides = [f"data.train_files=[{args.data}/train.txt]", f"data.eval_files=[{args.data}/valid.txt]", f"train.output_dir={out}", "train.save_every=0", "train.trackers=[jsonl]"]
    if steps:
        overrides.append(f"train.max_steps={steps}")
    return load_recipe(REPO / "recipes" / "lm_ptb.yaml", overrides)


def _eval_curve(run_dir: Path) -> list[dict]:
    curve = []
    for line in (run_dir / "logs" / "metrics.jsonl").read_text().splitlines():
        row = json.loads(line)
        if "eval/ppl" in row:
            curve.append({"step": row["step"], "train_seconds": row["eval/train_seconds"], "ppl": row["eval/ppl"]})
    return curve


def run_textae(args, arm: str, steps: int, out: Path) -> dict:
    from textae.training import train

    from textae.training import complete_checkpoints

    recipe = _recipe_arm(args, None if arm == "recipe" else steps, out) if arm == "recipe" else _parity_recipe(args, arm, steps, out)
    # the equal-step textae arms checkpoint, so a long arm cut short (a machine handed back) goes on
    # where it stopped; its PPL is that of an uninterrupted run (resume is bit-exact), its clock is not
    resumed = arm == "textae" and bool(complete_checkpoints(out))
    if arm == "textae":
        recipe.train.save_every = 500
    result = train(recipe, resume=resumed)
    m = result.metrics
    t = recipe.train
    return {
        "valid_ppl": m["eval"]["ppl"],
        "valid_tokens": m["eval"]["tokens"],
        "train_seconds": m["throughput"]["seconds"],
        "train_tokens": m["throughput"]["tokens"],
        "tokens_per_second": m["throughput"]["tokens_per_second"],
        "steps": m["throughput"]["steps"],
        "curve": _eval_curve(result.run_dir),
        "resumed": resumed,
        "settings": {"batch_size": t.batch_size, "pack_length": t.pack_length, "compile": t.compile, "bf16": t.bf16, "max_steps": t.max_steps, "learning_rate": t.learning_rate, "model": recipe.model},
    }


class CountingCollator:
    """Builds [BOS] x [EOS] batches for a plain HF causal LM and counts the tokens it predicts."""

    def __init__(self, pad: int, bos: int, eos: int):
        self.pad, self.bos, self.eos = pad, bos, eos
        self.tokens = 0

    def __call__(self, rows):
        import torch

        seqs = [[self.bos, *r["input_ids"], self.eos] for r in rows]
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), self.pad, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, s in enumerate(seqs):
            ids[i, : len(s)] = torch.tensor(s)
            mask[i, : len(s)] = 1
        labels = ids.masked_fill(mask == 0, -100)
        self.tokens += int((labels[:, 1:] != -100).sum())
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def valid_nll(model, rows, collator, bf16: bool, batch_size: int = 128) -> tuple[float, int]:
    """Summed NLL (nats) and predicted tokens of ``rows`` under a plain HF causal LM."""
    import torch

    was_training = model.training
    model.eval()
    nll, tokens = 0.0, 0
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        for i in range(0, len(rows), batch_size):
            batch = collator(rows[i : i + batch_size])
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1].float()
            targets = batch["labels"][:, 1:]
            nll += torch.nn.functional.cross_entropy(logits.transpose(1, 2), targets, ignore_index=-100, reduction="sum").item()
            tokens += int((targets != -100).sum())
    model.train(was_training)
    return nll, tokens


def run_trainer(args, steps: int, out: Path) -> dict:
    """The peer: GPT2LMHeadModel + transformers.Trainer, its defaults except what must match."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, Trainer, TrainerCallback, TrainingArguments

    from textae.data import tokenize_dataset
    from textae.training.build import build_tokenizer, raw_split

    recipe = _parity_recipe(args, "textae", steps, out)
    t, d = recipe.train, recipe.data
    train_raw, eval_raw = raw_split(recipe, "train"), raw_split(recipe, "eval")
    tokenizer = build_tokenizer(recipe, train_raw)
    train_ds = tokenize_dataset(train_raw, tokenizer, d.text_column, d.max_seq_length).remove_columns(["length"])
    eval_rows = list(tokenize_dataset(eval_raw, tokenizer, d.text_column, d.max_seq_length).remove_columns(["length"]))
    spec = dict(recipe.model["decoder_config"])
    config = AutoConfig.for_model(spec.pop("model_type"), vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id,
                                  eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, **spec)
    torch.manual_seed(t.seed)
    model = AutoModelForCausalLM.from_config(config)
    collator = CountingCollator(tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id)
    eval_collator = CountingCollator(tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id)
    curve: list[dict] = []
    clock = {"start": None, "excluded": 0.0}

    class EvalCurve(TrainerCallback):
        """Valid PPL every ``eval_every`` steps, on a training clock that leaves the evaluation out."""

        def on_train_begin(self, *_, **__):
            clock["start"] = time.perf_counter()

        def on_step_end(self, _args, state, control, **kwargs):
            if args.eval_every and state.global_step % args.eval_every == 0:
                began = time.perf_counter()
                nll, tokens = valid_nll(model, eval_rows, eval_collator, args.bf16)
                trained = began - clock["start"] - clock["excluded"]
                curve.append({"step": state.global_step, "train_seconds": trained, "ppl": math.exp(nll / tokens)})
                clock["excluded"] += time.perf_counter() - began

    # a long run checkpoints every 500 steps (the Trainer's own checkpoints) and goes on from the
    # newest when rerun, as the textae arm does; its PPL is an uninterrupted run's, its clock is not
    long = steps > 1000
    resumed = long and any(out.glob("checkpoint-*"))
    targs = TrainingArguments(
        output_dir=str(out), max_steps=steps, per_device_train_batch_size=t.batch_size, learning_rate=t.learning_rate,
        weight_decay=t.weight_decay, adam_beta2=t.adam_beta2, warmup_steps=t.warmup_steps, lr_scheduler_type=t.lr_scheduler,
        max_grad_norm=t.max_grad_norm, bf16=args.bf16, use_cpu=not torch.cuda.is_available(),
        save_strategy="steps" if long else "no", save_steps=500, save_total_limit=1,
        eval_strategy="no", logging_steps=100, report_to=[], seed=t.seed, remove_unused_columns=False, disable_tqdm=True,
    )
    trainer = Trainer(model=model, args=targs, train_dataset=train_ds, data_collator=collator, callbacks=[EvalCurve()])
    trainer.train(resume_from_checkpoint=True if resumed else None)
    seconds = time.perf_counter() - clock["start"] - clock["excluded"]
    nll, tokens = valid_nll(model, eval_rows, eval_collator, args.bf16)
    if not curve or curve[-1]["step"] != steps:
        curve.append({"step": steps, "train_seconds": seconds, "ppl": math.exp(nll / tokens)})
    return {
        "valid_ppl": math.exp(nll / tokens), "valid_tokens": tokens, "train_seconds": seconds, "train_tokens": collator.tokens,
        "tokens_per_second": collator.tokens / seconds, "steps": steps, "curve": curve, "optimizer": targs.optim.value if hasattr(targs.optim, "value") else str(targs.optim),
        "resumed": resumed,
    }


def job_name(arm: str, steps: int, seed: int) -> str:
    return f"{arm}_{steps}" + (f"_s{seed}" if seed else "")


def worker(args) -> int:
    """One arm in this process: trains, then writes its result file."""
    import torch

    torch.set_num_threads(1)
    steps, seed = args.worker_steps, args.worker_seed
    PARITY["seed"] = seed
    out = Path(args.out_dir) / job_name(args.worker, steps, seed)
    began = time.time()
    result = run_trainer(args, steps, out) if args.worker == "trainer" else run_textae(args, args.worker, steps, out)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    # CPU seconds of the whole arm (one thread): a measure that other load on the machine barely moves
    result.update(arm=args.worker, requested_steps=steps, seed=seed, wall_seconds=time.time() - began, cpu_seconds=usage.ru_utime + usage.ru_stime,
                  settings_key=_key(args, args.worker, steps, seed))
    Path(str(out) + ".json").write_text(json.dumps(result, indent=2))
    return 0


def _key(args, arm: str, steps: int, seed: int = 0) -> dict:
    key = {"arm": arm, "steps": steps, "bf16": args.bf16, "eval_every": args.eval_every, "parity": {**PARITY, "seed": seed}}
    if arm == "packed":
        key.update(pack_length=args.pack_length, rows=args.packed_rows, eval_every=args.packed_eval_every)
    if arm.startswith("grouped"):
        key["megabatch_mult"] = int(arm.removeprefix("grouped"))
    if arm == "recipe":
        key["recipe"] = (REPO / "recipes" / "lm_ptb.yaml").read_text()
    return key


def _jobs(args) -> list[tuple[str, int, int]]:
    """(arm, steps, seed) in the order they start: the two sides of each equal-step comparison side by side."""
    grouped = [a for a in args.arms if a.startswith("grouped") and a.removeprefix("grouped").isdigit()]
    unknown = set(args.arms) - {"trainer", "textae", "packed", "recipe", *grouped}
    if unknown:
        raise SystemExit(f"unknown arms {sorted(unknown)}; arms: trainer, textae, packed, recipe, groupedM (M an integer)")
    jobs = [(arm, s, seed) for s in args.steps for seed in args.seeds for arm in ("trainer", "textae") if arm in args.arms]
    jobs += [(arm, args.steps[0], 0) for arm in grouped]
    jobs += [("packed", args.packed_steps, 0)] if "packed" in args.arms else []
    return jobs + ([("recipe", 0, 0)] if "recipe" in args.arms else [])


def run_all(args) -> dict[tuple[str, int, int], dict]:
    """Runs the arms not already finished (``--reuse``), ``--jobs`` at a time, each with one thread."""
    results, pending = {}, []
    for job in _jobs(args):
        path = Path(args.out_dir) / f"{job_name(*job)}.json"
        if args.reuse and path.exists():
            found = json.loads(path.read_text())
            if found.get("settings_key") == json.loads(json.dumps(_key(args, *job))):
                results[job] = found
                continue
        pending.append(job)
    if args.report_only:
        if pending:
            print(f"lm_ptb: not run yet (left out of the report): {', '.join(job_name(*job) for job in pending)}", flush=True)
        return results
    running: list[tuple[subprocess.Popen, tuple]] = []
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    while pending or running:
        while pending and len(running) < args.jobs:
            job = pending.pop(0)
            arm, steps, seed = job
            cmd = [sys.executable, __file__, "--worker", arm, "--worker-steps", str(steps), "--worker-seed", str(seed), "--data", args.data,
                   "--out-dir", args.out_dir, "--eval-every", str(args.eval_every), "--pack-length", str(args.pack_length),
                   "--packed-rows", str(args.packed_rows), "--packed-eval-every", str(args.packed_eval_every), "--bf16" if args.bf16 else "--no-bf16"]
            log = open(Path(args.out_dir) / f"{job_name(*job)}.log", "w")
            print(f"lm_ptb: starting {job_name(*job)}", flush=True)
            running.append((subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT), job))
        for proc, job in list(running):
            if proc.poll() is not None:
                running.remove((proc, job))
                if proc.returncode != 0:
                    raise SystemExit(f"lm_ptb: {job_name(*job)} failed; see {Path(args.out_dir) / f'{job_name(*job)}.log'}")
                results[job] = json.loads((Path(args.out_dir) / f"{job_name(*job)}.json").read_text())
                print(f"lm_ptb: {job_name(*job)} done: PPL {results[job]['valid_ppl']:.2f}", flush=True)
        time.sleep(2)
    return results


def time_to_reach(curve: list[dict], target: float) -> float | None:
    """Training seconds at which the curve first reaches ``target`` PPL (linear between evaluations)."""
    previous = None
    for point in curve:
        if point["ppl"] <= target:
            if previous is None:
                return point["train_seconds"]
            (t0, p0), (t1, p1) = (previous["train_seconds"], previous["ppl"]), (point["train_seconds"], point["ppl"])
            return t0 + (t1 - t0) * (p0 - target) / (p0 - p1) if p0 != p1 else t1
        previous = point
    return None


def ppl_at(curve: list[dict], seconds: float) -> float | None:
    """The last evaluated PPL at or before ``seconds`` of training (a run that ended sooner: its final PPL)."""
    before = [p for p in curve if p["train_seconds"] <= seconds]
    return before[-1]["ppl"] if before else None


def _mean_std(values: list[float]) -> tuple[float, float]:
    mean = sum(values) / len(values)
    return mean, (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5 if len(values) > 1 else 0.0


def report(args, results: dict) -> tuple[str, dict]:
    words, sentences, expected_tokens = valid_token_count(Path(args.data) / "valid.txt")
    for job, r in results.items():
        if r["valid_tokens"] != expected_tokens:
            raise SystemExit(f"lm_ptb: {job_name(*job)} counted {r['valid_tokens']} valid tokens, the file has {expected_tokens} ({words} words + {sentences} EOS)")
    lines = [f"PPL per word of PTB valid, each sentence's EOS counted: {expected_tokens:,} tokens ({words:,} words + {sentences:,} EOS), checked against the file.", ""]
    lines += ["**Equal steps, same model and settings** (seeds: model init, batch order, dropout)", "",
              "| steps | arm | seeds | valid PPL per seed | mean ± std | ratio of means to Trainer | train time (mean) | tokens/s (mean) |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    summary: dict = {"equal_steps": {}, "equal_time": {}}
    for steps in args.steps:
        arms = ["trainer", "textae", *sorted({a for a, s, _ in results if a.startswith("grouped") and s == steps})]
        by_arm = {arm: [r for (a, s, _), r in sorted(results.items()) if a == arm and s == steps] for arm in arms}
        peer = _mean_std([r["valid_ppl"] for r in by_arm["trainer"]])[0] if by_arm["trainer"] else None
        for arm, runs in by_arm.items():
            if not runs:
                continue
            ppls = [r["valid_ppl"] for r in runs]
            mean, std = _mean_std(ppls)
            ratio = mean / peer if peer else None
            seconds = sum(r["train_seconds"] for r in runs) / len(runs)
            speed = sum(r["tokens_per_second"] for r in runs) / len(runs)
            summary["equal_steps"][f"{arm}_{steps}"] = {"ppl_per_seed": ppls, "mean": mean, "std": std, "ratio_to_trainer": ratio, "train_seconds": seconds}
            timed = not any(r.get("resumed") for r in runs)  # a resumed arm's clock covers its last part only
            clock = f"{seconds / 60:.1f} min | {speed:.0f}" if timed else "– (resumed) | –"
            lines.append(f"| {steps} | {arm} | {len(runs)} | {' / '.join(f'{p:.2f}' for p in ppls)} | {mean:.2f} ± {std:.2f} | {f'{ratio:.4f}' if ratio else '–'} | {clock} |")
    # wall-clock compares only runs made side by side; the benchmark runs the Trainer's longest run
    # beside the packed arm, so the time comparisons are against it alone
    for steps in sorted({s for a, s, seed in results if a == "trainer" and seed == 0})[-1:]:
        peer = results[("trainer", steps, 0)]
        budget, target = peer["train_seconds"], peer["valid_ppl"]
        lines += ["", f"**Equal wall-clock and time to quality** against the Trainer's {steps}-step run (seed 0): {budget / 60:.1f} min of training, final PPL {target:.2f}", "",
                  "| arm | steps | PPL at the Trainer's time | vs Trainer | time to the Trainer's final PPL | vs Trainer | final PPL | its train time |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for job, r in sorted(results.items()):
            arm, s, seed = job
            if seed != 0 or (arm in ("trainer", "textae") or arm.startswith("grouped")) and s != steps:
                continue
            if r.get("resumed"):  # its clock covers the part after the resume only: no time to compare
                continue
            at = ppl_at(r["curve"], budget)
            reach = time_to_reach(r["curve"], target)
            summary["equal_time"][f"{job_name(*job)}_vs_trainer_{steps}"] = {"ppl_at_trainer_time": at, "seconds_to_trainer_ppl": reach, "time_ratio": reach / budget if reach else None, "final_ppl": r["valid_ppl"], "train_seconds": r["train_seconds"]}
            lines.append(
                f"| {arm} | {r['steps']} | {f'{at:.2f}' if at else '–'} | {f'{at / target - 1:+.1%}' if at else '–'} | "
                f"{f'{reach / 60:.1f} min' if reach else 'not reached'} | {f'{reach / budget:.2f}×' if reach else '–'} | {r['valid_ppl']:.2f} | {r['train_seconds'] / 60:.1f} min |"
            )
    return "\n".join(lines), summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "ptb"))
    parser.add_argument("--steps", default="1000,6000", help="equal-step comparisons (comma-separated)")
    parser.add_argument("--arms", default="trainer,textae,packed,recipe")
    parser.add_argument("--packed-steps", type=int, default=6000)
    parser.add_argument("--packed-rows", type=int, default=16)
    parser.add_argument("--pack-length", type=int, default=128)
    parser.add_argument("--eval-every", type=int, default=500)
    parser.add_argument("--packed-eval-every", type=int, default=100, help="the packed arm's evaluations (its time-to-quality curve)")
    parser.add_argument("--jobs", type=int, default=2, help="arms run at once (one thread each)")
    parser.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None, help="bf16 autocast (default: where the hardware computes bf16; emulated it is many times slower)")
    parser.add_argument("--reuse", action="store_true", help="re-report arms already finished with the same settings")
    parser.add_argument("--report-only", action="store_true", help="with --reuse: report the finished arms, run none")
    parser.add_argument("--out-dir", default=str(REPO / "runs" / "bench_lm_ptb"))
    parser.add_argument("--results", default=str(REPO / "benchmarks" / "results" / "lm_ptb"))
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--worker-steps", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--worker-seed", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--seeds", default="0", help="seeds of the equal-step arms (comma-separated)")
    args = parser.parse_args()
    if args.bf16 is None:
        import torch

        from textae.training.precision import bf16_is_fast

        args.bf16 = bf16_is_fast(on_cpu=not torch.cuda.is_available())
    if not Path(args.data, "train.txt").exists():
        print(f"lm_ptb: PTB not found at {args.data} (pass --data)", file=sys.stderr)
        return 2
    if args.worker:
        return worker(args)
    args.steps = [int(s) for s in str(args.steps).split(",") if s]
    args.arms = [a for a in args.arms.split(",") if a]
    args.seeds = [int(s) for s in str(args.seeds).split(",") if s]
    Path(args.out_dir).mkdir(parents=True, exist_ok=True)
    results = run_all(args)
    table, summary = report(args, results)
    import torch

    record = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}; each arm one thread, {args.jobs} arms at a time",
        "settings": {"steps": args.steps, "seeds": args.seeds, "arms": args.arms, "parity": PARITY, "bf16": args.bf16, "eval_every": args.eval_every,
                     "packed": {"steps": args.packed_steps, "rows": args.packed_rows, "pack_length": args.pack_length, "compile": True}},
        "summary": summary,
        "arms": {job_name(*job): r for job, r in sorted(results.items())},
    }
    Path(args.results).parent.mkdir(parents=True, exist_ok=True)
    Path(args.results + ".json").write_text(json.dumps(record, indent=2))
    Path(args.results + ".md").write_text(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
