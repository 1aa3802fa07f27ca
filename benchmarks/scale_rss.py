"""Peak memory (RSS) of training and encoding as the data grows ten-fold.

Training: a few steps of a tiny autoencoder on a synthetic corpus of 1M and of 10M tokens (plain text
files written to /tmp), each run in its own subprocess, with the data memory-mapped (Arrow, the
default) and streaming (``data.streaming=true``). Encoding: 10k and 100k sentences through
``model.encode`` (a list in, an [N, d] tensor out) and through ``textae encode`` (a file in, a .npy
out, streamed in chunks). The peak RSS of each subprocess is its ``ru_maxrss``; growth is
(peak at 10× − peak at 1×) / peak at 1×, target < 10%.

    OMP_NUM_THREADS=1 python benchmarks/scale_rss.py [--small-tokens 1000000] [--steps 5]

Writes benchmarks/results/scale_rss.{json,md} and prints the table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
TINY_ENCODER = {"model_type": "bert", "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64, "max_position_embeddings": 64}
TINY_DECODER = {"model_type": "gpt2", "n_embd": 32, "n_layer": 1, "n_head": 2, "n_positions": 64}


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


class ProcSampler:
    """Peaks of RssAnon (memory the process itself holds) and RssFile (pages of mapped files, such as
    a memory-mapped Arrow corpus, which the kernel may drop at will) from /proc/self/status, read
    every 5 ms in a thread."""

    def __init__(self):
        import threading

        self.peaks = {"RssAnon": 0, "RssFile": 0}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        with open("/proc/self/status") as f:
            for line in f:
                key = line.split(":", 1)[0]
                if key in self.peaks:
                    self.peaks[key] = max(self.peaks[key], int(line.split()[1]))

    def _run(self) -> None:
        while not self.stop.wait(0.005):
            self._read()

    def result(self) -> dict:
        self.stop.set()
        self.thread.join()
        self._read()
        return {"peak_anon_mb": self.peaks["RssAnon"] / 1024, "peak_file_mb": self.peaks["RssFile"] / 1024}


def write_corpus(path: Path, tokens: int, seed: int = 0) -> dict:
    """Random sentences of 4–20 words from a 5000-word vocabulary (Zipf-like), one a line."""
    import numpy as np

    rng = np.random.default_rng(seed)
    vocab = np.array([f"w{i}" for i in range(5000)])
    weights = 1.0 / np.arange(1, 5001)
    weights /= weights.sum()
    written = lines = 0
    with open(path, "w", encoding="utf-8") as f:
        while written < tokens:
            lengths = rng.integers(4, 21, size=int(min(10000, max(1, (tokens - written) // 12))))
            words = vocab[rng.choice(5000, size=int(lengths.sum()), p=weights)]
            start = 0
            out = []
            for n in lengths:
                out.append(" ".join(words[start : start + n]))
                start += n
            f.write("\n".join(out) + "\n")
            written += int(lengths.sum())
            lines += len(lengths)
    return {"tokens": written, "lines": lines, "bytes": path.stat().st_size}


# ---- children --------------------------------------------------------------------------------------
def child_train(corpus: str, eval_file: str, out: str, streaming: bool, steps: int) -> dict:
    from textae.training import load_recipe, train

    base = peak_mb()
    sampler = ProcSampler()
    tree = {
        "model": {"family": "ae", "latent_dim": 16, "memory_slots": 2, "encoder_config": TINY_ENCODER, "decoder_config": TINY_DECODER},
        "data": {"source": "files", "train_files": [corpus], "eval_files": [eval_file], "max_seq_length": 32, "streaming": streaming, "vocab_size": 6000},
        "train": {"output_dir": out, "max_steps": steps, "batch_size": 32, "eval_batch_size": 64, "warmup_steps": 1, "eval_every": 0,
                  "save_every": 0, "log_every": steps, "show_reconstructions": 0, "trackers": ["jsonl"]},
    }
    start = time.perf_counter()
    result = train(load_recipe(None, base=tree))
    return {"peak_rss_mb": peak_mb(), **sampler.result(), "rss_after_imports_mb": base, "seconds": time.perf_counter() - start, "steps": result.metrics["throughput"]["steps"]}


def child_encode(model_dir: str, corpus: str, n: int, how: str) -> dict:
    import itertools

    from textae.cli import main as cli

    from transformers import AutoModel  # noqa: F401

    base = peak_mb()
    sampler = ProcSampler()
    start = time.perf_counter()
    if how == "encode":
        from textae.cli import _load_model

        model = _load_model(model_dir)
        with open(corpus, encoding="utf-8") as f:
            texts = [line.strip() for line in itertools.islice(f, n)]
        vectors = model.encode(texts, batch_size=64)
        shape = list(vectors.shape)
    else:
        part = Path(tempfile.mkdtemp()) / "input.txt"
        with open(corpus, encoding="utf-8") as f, open(part, "w", encoding="utf-8") as g:
            g.writelines(itertools.islice(f, n))
        out = part.with_suffix(".npy")
        cli(["encode", model_dir, "--input", str(part), "--output", str(out), "--batch-size", "64"])
        import numpy as np

        shape = list(np.load(out, mmap_mode="r").shape)
    return {"peak_rss_mb": peak_mb(), **sampler.result(), "rss_after_imports_mb": base, "seconds": time.perf_counter() - start, "shape": shape}


def run_child(args: list[str], env_extra: dict) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO), "TOKENIZERS_PARALLELISM": "false", **env_extra}
    proc = subprocess.run([sys.executable, __file__, "--child", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(f"child {args} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def growth(small: float, large: float) -> float:
    return (large - small) / small


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", nargs=argparse.REMAINDER)
    parser.add_argument("--small-tokens", type=int, default=1_000_000)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--encode-small", type=int, default=10_000)
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "train":
            corpus, eval_file, out, streaming, steps = rest
            result = child_train(corpus, eval_file, out, streaming == "1", int(steps))
        else:
            model_dir, corpus, n, how = rest
            result = child_encode(model_dir, corpus, int(n), how)
        print(json.dumps(result))
        return

    work = Path(args.workdir or tempfile.mkdtemp(prefix="textae_scale_"))
    work.mkdir(parents=True, exist_ok=True)
    small, large = args.small_tokens, 10 * args.small_tokens
    corpora = {}
    for name, tokens in (("small", small), ("large", large)):
        path = work / f"corpus_{name}.txt"
        corpora[name] = {"path": str(path), **write_corpus(path, tokens, seed=1 if name == "small" else 2)}
        print(f"corpus {name}: {corpora[name]['tokens']:,} tokens, {corpora[name]['lines']:,} lines, {corpora[name]['bytes'] / 1e6:.1f} MB", flush=True)
    eval_file = work / "eval.txt"
    write_corpus(eval_file, 2000, seed=3)

    rows = []
    for streaming in (False, True):
        peaks = {}
        for name in ("small", "large"):
            cache = work / f"hf_{name}_{int(streaming)}"
            r = run_child(["train", corpora[name]["path"], str(eval_file), str(work / f"run_{name}_{int(streaming)}"), str(int(streaming)), str(args.steps)], {"HF_DATASETS_CACHE": str(cache)})
            peaks[name] = r
            print(f"train {'streaming' if streaming else 'arrow (memory-mapped)'} {name}: peak {r['peak_rss_mb']:.0f} MB ({r['seconds']:.0f} s)", flush=True)
        rows.append({
            "what": f"train {args.steps} steps, {'streaming' if streaming else 'Arrow, memory-mapped'}",
            "small": f"{corpora['small']['tokens'] / 1e6:.1f}M tokens", "large": f"{corpora['large']['tokens'] / 1e6:.1f}M tokens",
            "small_peak_mb": round(peaks["small"]["peak_rss_mb"], 1), "large_peak_mb": round(peaks["large"]["peak_rss_mb"], 1),
            "after_imports_mb": round(peaks["small"]["rss_after_imports_mb"], 1),
            "growth": round(growth(peaks["small"]["peak_rss_mb"], peaks["large"]["peak_rss_mb"]), 4),
            "small_anon_mb": round(peaks["small"]["peak_anon_mb"], 1), "large_anon_mb": round(peaks["large"]["peak_anon_mb"], 1),
            "anon_growth": round(growth(peaks["small"]["peak_anon_mb"], peaks["large"]["peak_anon_mb"]), 4),
            "small_file_mb": round(peaks["small"]["peak_file_mb"], 1), "large_file_mb": round(peaks["large"]["peak_file_mb"], 1),
            "seconds": [round(peaks["small"]["seconds"], 1), round(peaks["large"]["seconds"], 1)],
        })

    # a tiny model (random weights: memory does not depend on them) with a tokenizer of the corpus
    model_dir = work / "model"
    import textae  # noqa: F401
    from textae.data import special_ids, train_tokenizer
    from textae.models import TextAE, TextAEConfig

    with open(corpora["small"]["path"], encoding="utf-8") as f:
        tok = train_tokenizer((line for _, line in zip(range(20000), f)), "wordlevel", vocab_size=6000)
    model = TextAE(TextAEConfig(vocab_size=len(tok), latent_dim=16, memory_slots=2, encoder_config=TINY_ENCODER, decoder_config=TINY_DECODER, max_seq_length=32, **special_ids(tok)))
    model.tokenizer = tok
    model.save_pretrained(model_dir)
    n_small, n_large = args.encode_small, 10 * args.encode_small
    for how, label in (("encode", "model.encode(list) → [N, d] tensor"), ("cli", "textae encode FILE → .npy (streamed)")):
        peaks = {n: run_child(["encode", str(model_dir), corpora["large"]["path"], str(n), how], {}) for n in (n_small, n_large)}
        for n, r in peaks.items():
            print(f"{label} {n}: peak {r['peak_rss_mb']:.0f} MB ({r['seconds']:.0f} s), output {r['shape']}", flush=True)
        rows.append({
            "what": label, "small": f"{n_small:,} sentences", "large": f"{n_large:,} sentences",
            "small_peak_mb": round(peaks[n_small]["peak_rss_mb"], 1), "large_peak_mb": round(peaks[n_large]["peak_rss_mb"], 1),
            "after_imports_mb": round(peaks[n_small]["rss_after_imports_mb"], 1),
            "growth": round(growth(peaks[n_small]["peak_rss_mb"], peaks[n_large]["peak_rss_mb"]), 4),
            "small_anon_mb": round(peaks[n_small]["peak_anon_mb"], 1), "large_anon_mb": round(peaks[n_large]["peak_anon_mb"], 1),
            "anon_growth": round(growth(peaks[n_small]["peak_anon_mb"], peaks[n_large]["peak_anon_mb"]), 4),
            "small_file_mb": round(peaks[n_small]["peak_file_mb"], 1), "large_file_mb": round(peaks[n_large]["peak_file_mb"], 1),
            "seconds": [round(peaks[n_small]["seconds"], 1), round(peaks[n_large]["seconds"], 1)],
        })

    import torch

    meta = {"python": sys.version.split()[0], "torch": torch.__version__, "cpu_count": os.cpu_count(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "corpora": corpora}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "scale_rss.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    lines = [
        "# Peak RSS as the data grows ten-fold",
        "",
        f"torch {meta['torch']}, {meta['cpu_count']} CPU cores, {meta['date']}. Each cell is one subprocess's peak RSS (`ru_maxrss`); "
        "growth = (large − small) / small, target < 10%. Tiny autoencoder (1 layer, d=32), synthetic Zipf text, batch 32, "
        f"{args.steps} steps; the training cost that grows with the data is reading, tokenizer training and tokenizing it. "
        "Peak RSS (`ru_maxrss`) counts the pages of memory-mapped files the process has read (the Arrow corpus): the kernel "
        "drops them under pressure. Anonymous RSS (RssAnon, sampled every 5 ms from /proc/self/status) is the memory the process holds.",
        "",
        "| run | small | large | RSS after imports (MB) | peak RSS small → large (MB) | growth | peak anonymous small → large (MB) | anonymous growth | peak file-backed small → large (MB) | seconds (small, large) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['what']} | {r['small']} | {r['large']} | {r['after_imports_mb']:.0f} | {r['small_peak_mb']:.0f} → {r['large_peak_mb']:.0f} | {r['growth']:+.1%} | "
            f"{r['small_anon_mb']:.0f} → {r['large_anon_mb']:.0f} | {r['anon_growth']:+.1%} | {r['small_file_mb']:.0f} → {r['large_file_mb']:.0f} | {r['seconds'][0]}, {r['seconds'][1]} |"
        )
    lines += ["", "Reproduce: `OMP_NUM_THREADS=1 python benchmarks/scale_rss.py`."]
    (RESULTS / "scale_rss.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
