"""The AR LM baseline on PTB: textae's loop against plain ``transformers.Trainer``, side by side.

Both train the same architecture (a GPT-2 decoder from recipes/lm_ptb.yaml) on the same tokenized PTB
train set, with the same batch size, optimizer, LR schedule, precision and number of steps. Reported:
valid PPL per word (each sentence's EOS counted as a token, the usual PTB convention) and training
throughput in predicted (non-padding) tokens per second; the ratio textae / Trainer is printed.

    python benchmarks/lm_ptb.py                          # reads ../shared/data/ptb
    python benchmarks/lm_ptb.py --data PATH --steps 12000 --peer-steps 12000

Results go to benchmarks/results/lm_ptb.json and a markdown table to benchmarks/results/lm_ptb.md.
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

REPO = Path(__file__).resolve().parents[1]


def _recipe(args, steps: int):
    from textae.training import load_recipe

    return load_recipe(
        REPO / "recipes" / "lm_ptb.yaml",
        [
            f"data.train_files=[{args.data}/train.txt]",
            f"data.eval_files=[{args.data}/valid.txt]",
            f"train.output_dir={args.out_dir}/textae",
            f"train.max_steps={steps}",
            f"train.bf16={str(args.bf16).lower()}",
            "train.save_every=0",
            f"train.eval_every={args.eval_every}",
            "train.trackers=[jsonl]",
        ],
    )


def run_textae(args) -> dict:
    from textae.training import train

    result = train(_recipe(args, args.steps))
    m = result.metrics
    return {
        "valid_ppl": m["eval"]["ppl"],
        "valid_nll_per_token": m["eval"]["nll_per_token"],
        "tokens_per_second": m["throughput"]["tokens_per_second"],
        "train_seconds": m["throughput"]["seconds"],
        "train_tokens": m["throughput"]["tokens"],
        "steps": m["throughput"]["steps"],
    }


class CountingCollator:
    """Builds [BOS] x [EOS] batches for a plain HF causal LM and counts the tokens it predicts."""

    def __init__(self, pad: int, bos: int, eos: int):
        self.pad, self.bos, self.eos = pad, bos, eos
        self.tokens = 0

    def __call__(self, rows):
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


@torch.no_grad()
def valid_ppl(model, dataset, collator, batch_size: int = 128) -> float:
    model.eval()
    nll, tokens = 0.0, 0
    rows = list(dataset)
    for i in range(0, len(rows), batch_size):
        batch = collator(rows[i : i + batch_size])
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1].float()
        targets = batch["labels"][:, 1:]
        loss = torch.nn.functional.cross_entropy(logits.transpose(1, 2), targets, ignore_index=-100, reduction="sum")
        nll += loss.item()
        tokens += int((targets != -100).sum())
    return math.exp(nll / tokens)


def run_trainer(args) -> dict:
    """The peer: GPT2LMHeadModel + transformers.Trainer, defaults except what must match."""
    from transformers import AutoConfig, AutoModelForCausalLM, Trainer, TrainingArguments

    from textae.training.build import build_tokenizer, raw_split
    from textae.data import tokenize_dataset

    recipe = _recipe(args, args.peer_steps)
    t, d = recipe.train, recipe.data
    train_raw, eval_raw = raw_split(recipe, "train"), raw_split(recipe, "eval")
    tokenizer = build_tokenizer(recipe, train_raw)
    train_ds = tokenize_dataset(train_raw, tokenizer, d.text_column, d.max_seq_length).remove_columns(["length"])
    eval_ds = tokenize_dataset(eval_raw, tokenizer, d.text_column, d.max_seq_length).remove_columns(["length"])
    spec = dict(recipe.model["decoder_config"])
    config = AutoConfig.for_model(spec.pop("model_type"), vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id,
                                  eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, **spec)
    torch.manual_seed(t.seed)
    model = AutoModelForCausalLM.from_config(config)
    collator = CountingCollator(tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id)
    targs = TrainingArguments(
        output_dir=str(Path(args.out_dir) / "trainer"),
        max_steps=args.peer_steps,
        per_device_train_batch_size=t.batch_size,
        learning_rate=t.learning_rate,
        weight_decay=t.weight_decay,
        adam_beta2=t.adam_beta2,
        warmup_steps=t.warmup_steps,
        lr_scheduler_type=t.lr_scheduler,
        max_grad_norm=t.max_grad_norm,
        bf16=args.bf16,
        use_cpu=not torch.cuda.is_available(),
        save_strategy="no",
        eval_strategy="no",
        logging_steps=100,
        report_to=[],
        seed=t.seed,
        remove_unused_columns=False,
        disable_tqdm=True,
    )
    trainer = Trainer(model=model, args=targs, train_dataset=train_ds, data_collator=collator)
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    tokens = collator.tokens
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
        ppl = valid_ppl(model, eval_ds, CountingCollator(tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id))
    return {"valid_ppl": ppl, "tokens_per_second": tokens / seconds, "train_seconds": seconds, "train_tokens": tokens, "steps": args.peer_steps}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "ptb"))
    parser.add_argument("--steps", type=int, default=6000, help="textae training steps")
    parser.add_argument("--peer-steps", type=int, default=None, help="Trainer steps (default: the same as --steps)")
    parser.add_argument("--eval-every", type=int, default=0)
    parser.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--out-dir", default=str(REPO / "runs" / "bench_lm_ptb"))
    parser.add_argument("--results", default=str(REPO / "benchmarks" / "results" / "lm_ptb"))
    args = parser.parse_args()
    args.peer_steps = args.peer_steps or args.steps
    if not Path(args.data, "train.txt").exists():
        print(f"lm_ptb: PTB not found at {args.data} (pass --data)", file=sys.stderr)
        return 2
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    ours = run_textae(args)
    peer = run_trainer(args)
    ratio = ours["tokens_per_second"] / peer["tokens_per_second"]
    result = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
        "settings": {"steps": args.steps, "peer_steps": args.peer_steps, "bf16": args.bf16, "recipe": "recipes/lm_ptb.yaml"},
        "ppl_unit": "per word of PTB valid, each sentence's EOS counted (82,430 tokens)",
        "textae": ours,
        "transformers_trainer": peer,
        "throughput_ratio_textae_over_trainer": ratio,
    }
    table = "\n".join(
        [
            "| run | steps | train time | tokens/s | valid PPL (per word + EOS) |",
            "| --- | --- | --- | --- | --- |",
            f"| textae loop | {ours['steps']} | {ours['train_seconds'] / 60:.1f} min | {ours['tokens_per_second']:.0f} | {ours['valid_ppl']:.1f} |",
            f"| transformers.Trainer | {peer['steps']} | {peer['train_seconds'] / 60:.1f} min | {peer['tokens_per_second']:.0f} | {peer['valid_ppl']:.1f} |",
            f"| ratio textae / Trainer | | | {ratio:.2f}× | |",
        ]
    )
    Path(args.results).parent.mkdir(parents=True, exist_ok=True)
    Path(args.results + ".json").write_text(json.dumps(result, indent=2))
    Path(args.results + ".md").write_text(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
