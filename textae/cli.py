"""The ``textae`` command: train | eval | generate | encode | export | tag.

    textae train RECIPE.yaml [section.key=value ...] [--resume | --overwrite]
    textae eval RUN_DIR
    textae generate RUN_DIR [-n 10] [--temperature 1.0] [--input FILE] [--prior DIR] [--label NAME]
    textae encode RUN_DIR --input FILE [--output FILE.npy] [--normalize] [--correct-spelling]
    textae export RUN_DIR --sentence-transformers OUT | --hf-encoder OUT
    textae tag RUN_DIR --input FILE|-      (a noise tagger: each token/class of each line)

Several processes: ``accelerate launch [options] -m textae train RECIPE.yaml``.

Exit status: 0 done; 2 bad input (recipe, data, run folder), named in the message; 3 training stopped
on non-finite losses; 75 (EX_TEMPFAIL) stopped by SIGTERM / SIGINT after writing a checkpoint, resume
with ``--resume``; 128 + N killed by a second signal N.
"""

from __future__ import annotations

import argparse
import inspect
import json
import logging
import os
import sys
from pathlib import Path

from .models import protocol


def _load_model(run_dir: str):
    import textae  # noqa: F401  (registers the Auto classes)
    from transformers import AutoModel

    folder = Path(run_dir)
    model_dir = folder / "model" if (folder / "model" / "config.json").exists() else folder
    if not (model_dir / "config.json").exists():
        raise SystemExit(f"textae: no saved model in {run_dir} (looked for {folder / 'model'} and {folder})")
    model = AutoModel.from_pretrained(str(model_dir))
    model.eval()
    return model


def _iter_lines(path: str):
    """The stripped non-empty lines of a UTF-8 file, read lazily (a byte that is not UTF-8 stops
    with the file and the line named)."""
    p = Path(path)
    if not p.exists():
        raise SystemExit(f"textae: input file not found: {path}")
    with open(p, "rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8").strip()
            except UnicodeDecodeError:
                raise SystemExit(f"textae: {path} line {number} is not valid UTF-8") from None
            if line:
                yield line


def _iter_input(path: str):
    """The stripped non-empty lines of ``path``, or of stdin for "-"."""
    if path != "-":
        return _iter_lines(path)
    return (line.strip() for line in sys.stdin if line.strip())


def _read_lines(path: str) -> list[str]:
    return list(_iter_lines(path))


def _attach_prior(model, run_dir: str, prior: str | None = None) -> None:
    """A VQ model samples codes from its prior: ``prior``, else RUN_DIR/prior when it exists."""
    if model.offers(protocol.ATTACH_PRIOR):
        folder = Path(prior or Path(run_dir) / "prior")
        if prior or (folder / "model" / "config.json").exists():
            model.load_prior(folder)


def cmd_train(args) -> int:
    from .training import load_recipe, train

    from .training.preemption import EXIT_PREEMPTED, TrainingPreempted

    recipe = load_recipe(args.recipe, args.overrides)
    try:
        result = train(recipe, resume=args.resume, overwrite=args.overwrite)
    except TrainingPreempted as stop:
        print(f"textae: {stop}", file=sys.stderr)
        return _exit_cleanly(None, EXIT_PREEMPTED)
    return _exit_cleanly(result)


def _exit_cleanly(result, code: int = 0) -> int:
    # gloo can abort at interpreter exit in multi-process CPU runs; all work is done and flushed here
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        from accelerate import PartialState

        state = PartialState()
        state.wait_for_everyone()
        state.destroy_process_group()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def cmd_eval(args) -> int:
    from .data import tokenize_dataset
    from .data.loading import class_label_names
    from .metrics.evaluation import TOKEN_UNIT, teacher_forced
    from .training import load_recipe
    from .training.build import raw_split, scored_pairs, text_column
    from .training.build import eval_loader, make_collator

    model = _load_model(args.run_dir)
    recipe_path = Path(args.run_dir) / "recipe.yaml"
    recipe = load_recipe(recipe_path, args.overrides)
    d = recipe.data
    column = text_column(recipe)
    eval_raw = raw_split(recipe, "eval")
    label_column = d.label_column if model.condition_keys else None
    label2id = dict(model.config.label2id) if label_column and class_label_names(eval_raw, label_column) is None else None  # ClassLabel ids are kept
    eval_ds = tokenize_dataset(eval_raw, model.tokenizer, column, d.max_seq_length, label_column, label2id, keep_text=True, decoder_tokenizer=model.decoder_tokenizer)
    loader = eval_loader(eval_ds, make_collator(model, recipe), recipe)
    metrics = {"eval": teacher_forced(model, loader), "token_unit": TOKEN_UNIT}
    texts = [t for t in (row[column] for row in eval_raw) if isinstance(t, str) and t.strip()][: args.reconstruct]
    metrics.update(model.evaluation_report(loader, texts, metrics["eval"], eval_data=eval_raw, iw_samples=args.iw_samples, examples=args.examples))
    _attach_prior(model, args.run_dir)
    if model.offers(protocol.SAMPLE):
        metrics["samples"] = model.sample(args.examples)
    pairs = scored_pairs(recipe) if model.offers(protocol.ENCODE) else None
    if pairs is not None:  # an embedding run on STS-style pairs: Spearman under each noise at each rate
        from .metrics.robustness import curve_table, robustness_curve

        front = _front_end(args)
        curve = robustness_curve(lambda texts: model.encode(front(texts), batch_size=64), *pairs, lang=args.noise_lang, rates=args.noise_rates)
        metrics["robustness"] = {"pairs": len(pairs[0]), "lang": args.noise_lang, "correct_spelling": args.correct_spelling, **curve}
        behind = " behind the spell-corrector" if args.correct_spelling else ""
        print(f"STS Spearman x100 on {len(pairs[0])} eval pairs{behind}, both sentences corrupted:\n" + curve_table(curve, args.noise_lang, args.noise_rates), file=sys.stderr)
    out = Path(args.run_dir) / "eval.json"
    out.write_text(json.dumps(metrics, indent=2))
    print(json.dumps(metrics, indent=2))
    return 0


def cmd_generate(args) -> int:
    model = _load_model(args.run_dir)
    if args.label is not None and not model.condition_keys:
        raise SystemExit(f"textae: {type(model).__name__} is not conditioned on labels; --label needs a CVAE run")
    if args.guidance is not None and args.label is None:
        raise SystemExit("textae: --guidance steers decoding toward a label; pass --label too")
    if (args.edit_threshold, args.lookahead, args.edit_share) != (None, None, None) and not args.edit:
        raise SystemExit("textae: --edit-threshold, --edit-share and --lookahead set how --edit swaps words; pass --edit too")
    if args.edit and not (args.input and args.label is not None):
        raise SystemExit("textae: --edit swaps the words of --input lines toward a label; pass --input FILE and --label NAME")
    guide = {"guidance": args.guidance} if args.guidance else {}
    if args.input:
        if not model.offers(protocol.RECONSTRUCT):
            raise SystemExit(f"textae: {type(model).__name__} does not reconstruct input; drop --input to sample")
        texts = _read_lines(args.input)
        if args.edit:
            chosen = {"guidance": args.guidance, "threshold": args.edit_threshold, "lookahead": args.lookahead, "max_share": args.edit_share}
            outputs = model.edit(texts, to_label=args.label, **{k: v for k, v in chosen.items() if v is not None})
        else:
            outputs = model.transfer(texts, to_label=args.label, **guide) if args.label is not None else model.reconstruct(texts)
        for src, out in zip(texts, outputs):
            print(f"{src}\t{_one_line(out)}")
        return 0
    _attach_prior(model, args.run_dir, args.prior)
    if protocol.SAMPLE not in model.operations:  # declared, but maybe not ready: a VQ model names its missing prior
        raise SystemExit(f"textae: {type(model).__name__} has no prior to sample from; pass --input FILE to reconstruct")
    kwargs = {"temperature": args.temperature, "top_p": args.top_p, **guide, **({"label": args.label} if args.label is not None else {})}
    if args.top_p < 1.0 and "greedy" in inspect.signature(model.sample).parameters:
        kwargs["greedy"] = False  # latent families decode each z greedily unless asked to sample its words
    for text in model.sample(args.n, **kwargs):
        print(_one_line(text))
    return 0


def cmd_fit_label_latents(args) -> int:
    """Fits each label's aggregate posterior on the run's training split and writes it into the saved
    model's config (atomically: the old config stays whole until the new one is complete)."""
    import os
    import tempfile

    from .training import load_recipe
    from .training.build import labelled_texts

    model = _load_model(args.run_dir)
    if not hasattr(model, "fit_label_latents"):
        raise SystemExit(f"textae: {type(model).__name__} is not conditioned on labels; fit-label-latents needs a CVAE run")
    recipe = load_recipe(Path(args.run_dir) / "recipe.yaml", args.overrides)
    texts, labels = labelled_texts(recipe, "train")
    fitted = model.fit_label_latents(texts, labels)
    model_dir = Path(args.run_dir) / "model"
    with tempfile.TemporaryDirectory(dir=model_dir) as tmp:
        model.config.save_pretrained(tmp)
        os.replace(Path(tmp) / "config.json", model_dir / "config.json")
    counts = model.label_ids(labels, len(labels)).bincount(minlength=model.config.num_labels).tolist()
    for name, mean, count in zip(model.label_names, fitted["mean"], counts):
        print(f"{name}: |mean| {sum(v * v for v in mean) ** 0.5:.3f} over {count} texts")
    return 0


def _one_line(text: str) -> str:
    """A generated text as one output line: the line breaks and tabs a byte-level decoder may write become spaces."""
    return " ".join(text.replace("\t", " ").splitlines())


def _front_end(args):
    """texts → texts: identity, or the spell-correcting front end with ``--correct-spelling``."""
    if not args.correct_spelling:
        return lambda texts: texts
    try:
        from .data.spelling import SpellingCorrector

        return SpellingCorrector()
    except ImportError as err:
        raise SystemExit(f"textae: --correct-spelling: {err}") from None


def cmd_encode(args) -> int:
    """Streams the input: one chunk of lines in memory at a time; a .npy output is filled in place
    (a memory-mapped file sized by a first pass that counts the lines), a .jsonl one line by line."""
    import contextlib
    import itertools

    import numpy as np

    model = _load_model(args.run_dir)
    if not model.offers(protocol.ENCODE):
        raise SystemExit(f"textae: {type(model).__name__} has no encoder")
    jsonl = args.output.endswith(".jsonl")
    front = _front_end(args)
    total = None if jsonl else sum(1 for _ in _iter_lines(args.input))
    lines = _iter_lines(args.input)
    written, width, array = 0, model.config.latent_dim, None
    with open(args.output, "w", encoding="utf-8") if jsonl else contextlib.nullcontext() as out:
        while True:
            chunk = list(itertools.islice(lines, args.chunk_size))
            if not chunk:
                break
            vectors = model.encode(front(chunk), batch_size=args.batch_size, normalize=args.normalize).numpy()
            width = vectors.shape[1]
            if jsonl:
                for text, vec in zip(chunk, vectors):
                    out.write(json.dumps({"text": text, "embedding": vec.tolist()}) + "\n")
            else:
                if array is None:
                    array = np.lib.format.open_memmap(args.output, mode="w+", dtype=np.float32, shape=(total, width))
                array[written : written + len(chunk)] = vectors
            written += len(chunk)
    if not jsonl:
        if array is None:
            np.save(args.output, np.zeros((0, width), dtype=np.float32))
        else:
            array.flush()
            del array
    print(f"textae: wrote {written} × {width} embeddings to {args.output}")
    return 0


def cmd_export(args) -> int:
    from .export import export_sentence_transformers

    model = _load_model(args.run_dir)
    if args.hf_encoder:
        if not model.offers(protocol.EXPORT_HF_ENCODER):
            raise SystemExit(f"textae: {type(model).__name__} has no HF encoder export (ELECTRA models have)")
        out = model.export_hf_encoder(args.hf_encoder)
        print(f"textae: wrote an HF encoder to {out}; load it with AutoModelForSequenceClassification.from_pretrained({str(out)!r}, num_labels=...)")
        return 0
    out = export_sentence_transformers(model, args.sentence_transformers)
    print(f"textae: wrote a sentence-transformers model to {out}; load it with SentenceTransformer({str(out)!r})")
    return 0


def cmd_tag(args) -> int:
    """Streams the input in chunks; each line prints as its tokens, ``token/class`` separated by spaces."""
    import itertools

    model = _load_model(args.run_dir)
    if not model.offers(protocol.TAG):
        raise SystemExit(f"textae: {args.run_dir} holds a {type(model).__name__}, not a noise tagger (train one with model.family: tagger)")
    lines = _iter_input(args.input)
    while chunk := list(itertools.islice(lines, args.batch_size)):
        for tagged in model.tag(chunk, batch_size=args.batch_size):
            print(" ".join(f"{token}/{name}" for token, name in tagged))
    return 0


SPELLING_HELP = (
    "English text: fold look-alike characters and correct spelling before encoding (textae.data.spelling; "
    'pip install "textae[spell]"); the --output .jsonl keeps the lines as given'
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="textae", description="Transformer text autoencoders on the Hugging Face stack")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "train",
        help="train a recipe",
        epilog="exit status: 0 done; 2 bad input (named); 3 non-finite losses; 75 stopped by SIGTERM / Ctrl-C after a "
        "checkpoint (rerun with --resume); 128+N killed by a second signal N",
    )
    p.add_argument("recipe")
    p.add_argument("overrides", nargs="*", help="section.key=value")
    p.add_argument("--resume", action="store_true", help="continue from the newest complete checkpoint of the run")
    p.add_argument("--overwrite", action="store_true", help="replace the run in train.output_dir (its checkpoints, model, metrics, logs; other files stay)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("eval", help="evaluate a finished run on its eval split")
    p.add_argument("run_dir")
    p.add_argument("overrides", nargs="*", help="section.key=value applied to the run's recipe (e.g. data.eval_files=...)")
    p.add_argument("--reconstruct", type=int, default=500, help="sentences to reconstruct (autoencoders)")
    p.add_argument("--examples", type=int, default=5)
    p.add_argument("--iw-samples", type=int, default=50, help="importance samples k for the VAE's IW-NLL")
    p.add_argument("--noise-rates", type=float, nargs="+", default=[0.05, 0.1, 0.2, 0.3], help="rates of the robustness curve (runs whose eval pairs carry a score)")
    p.add_argument("--noise-lang", default="en", choices=["en", "zh"], help="noise families of the robustness curve")
    p.add_argument("--correct-spelling", action="store_true", help=SPELLING_HELP)
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("generate", help="sample sentences, or reconstruct --input")
    p.add_argument("run_dir")
    p.add_argument("-n", type=int, default=10)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-p", type=float, default=1.0, help="below 1: nucleus sampling of the words (latent families otherwise decode each z greedily)")
    p.add_argument("--guidance", type=float, default=None, help="CVAE with --label: label guidance weight (default 0: none, 3 with --edit; see textae.models.guidance)")
    p.add_argument("--edit", action="store_true", help="CVAE with --input and --label: transfer by swapping the source label's words only (TextCVAE.edit; --guidance, default 3)")
    p.add_argument("--edit-threshold", type=float, default=None, help="with --edit: the salience (nats) above which a word may be swapped (default 0)")
    p.add_argument("--edit-share", type=float, default=None, help="with --edit: the largest share of a line's words that may change, the most label-salient ones (default 0.25)")
    p.add_argument("--lookahead", type=int, default=None, help="with --edit: choose each new word by how well the next N source tokens follow it (0: the best next word; default 3)")
    p.add_argument("--input", help="a text file, one sentence a line, to reconstruct")
    p.add_argument("--label", help="CVAE: sample sentences of this label; with --input, transfer the lines to it")
    p.add_argument("--prior", help="VQ models: the prior over codes (default RUN_DIR/prior, see textae.training.prior)")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("fit-label-latents", help="CVAE: fit each label's latent Gaussian on the training split (then generate --label samples from it)")
    p.add_argument("run_dir")
    p.add_argument("overrides", nargs="*", help="section.key=value applied to the run's recipe (e.g. data.train_files=...)")
    p.set_defaults(func=cmd_fit_label_latents)

    p = sub.add_parser("encode", help="embed sentences")
    p.add_argument("run_dir")
    p.add_argument("--input", required=True, help="a text file, one sentence a line")
    p.add_argument("--output", default="embeddings.npy", help=".npy or .jsonl")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--chunk-size", type=int, default=8192, help="lines held in memory at a time")
    p.add_argument("--normalize", action="store_true")
    p.add_argument("--correct-spelling", action="store_true", help=SPELLING_HELP)
    p.set_defaults(func=cmd_encode)

    p = sub.add_parser("export", help="export the encoder for another library")
    p.add_argument("run_dir")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--sentence-transformers", metavar="OUT", help="write a sentence-transformers model folder to OUT")
    target.add_argument("--hf-encoder", metavar="OUT", help="ELECTRA: write the discriminator as an HF encoder checkpoint to OUT")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("tag", help="noise taggers: print each token of each line with its noise class")
    p.add_argument("run_dir")
    p.add_argument("--input", required=True, help="a text file, one sentence a line, or - for stdin")
    p.add_argument("--batch-size", type=int, default=64)
    p.set_defaults(func=cmd_tag)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    from .training.loop import NonFiniteLossError
    from .training.recipe import RecipeError

    try:
        return args.func(args)
    except (RecipeError, FileNotFoundError, KeyError, ValueError) as err:
        print(f"textae: error: {err}", file=sys.stderr)
        return 2
    except NonFiniteLossError as err:
        print(f"textae: training stopped: {err}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
