"""A prior over VQ codes: the textae AR LM trained on the code sequences of a VQ run.

    python -m textae.training.prior RUN_DIR [section.key=value ...] [--recipe PRIOR.yaml]
    textae generate RUN_DIR -n 10          # codes sampled from RUN_DIR/prior, decoded to text

The VQ run's train and eval texts are encoded to codes, written one sentence a line as words
"c<id>" to ``RUN_DIR/prior/data/{train,valid}.txt``, and a :class:`~textae.TextLM` is trained on
them by the one training loop into ``RUN_DIR/prior`` (its recipe, logs, metrics and ``model/``).
The LM's NLL per sentence is then the prior's cost of a sentence's codes, in nats.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..models.protocol import ENCODE_CODES

PRIOR_DIR = "prior"
DEFAULT_PRIOR = {
    "model": {"family": "lm", "decoder_config": {"model_type": "gpt2", "n_embd": 256, "n_layer": 4, "n_head": 4, "resid_pdrop": 0.1, "embd_pdrop": 0.1}},
    "data": {"source": "files", "tokenizer": "wordlevel"},
    # packed rows: every batch a random sample of the code sequences, no padding
    "train": {"max_steps": 3000, "batch_size": 16, "pack_length": 256, "learning_rate": 1.0e-3, "warmup_steps": 100, "eval_every": 1000, "save_every": 0, "log_every": 100, "show_reconstructions": 0},
}


def code_words(codes: list[int]) -> str:
    from ..models.vq import CODE_PREFIX

    return " ".join(f"{CODE_PREFIX}{c}" for c in codes)


def write_code_corpus(model, texts: list[str], path: str | Path, batch_size: int = 128) -> int:
    """Encodes ``texts`` and writes their codes, one sentence a line; returns the longest line's code count."""
    texts = [t.strip() for t in texts if isinstance(t, str) and t.strip()]
    codes = model.encode_codes(texts, batch_size)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(code_words(c) + "\n" for c in codes if c), encoding="utf-8")
    return max((len(c) for c in codes), default=1)


def _load_vq(run_dir: Path):
    from transformers import AutoModel

    import textae  # noqa: F401  (registers the families)

    model = AutoModel.from_pretrained(str(run_dir / "model"))
    if not model.offers(ENCODE_CODES):
        raise ValueError(f"{run_dir / 'model'} holds a {type(model).__name__}, not a VQ model")
    return model.eval()


def train_prior(run_dir: str | Path, overrides: list[str] | None = None, recipe_path: str | Path | None = None, vq_model=None):
    """Trains the prior of the VQ run in ``run_dir`` (see the module doc); returns the TrainResult."""
    from .build import raw_split, text_column
    from .loop import train
    from .recipe import load_recipe

    run_dir = Path(run_dir)
    model = vq_model if vq_model is not None else _load_vq(run_dir)
    vq_recipe = load_recipe(run_dir / "recipe.yaml")
    column = text_column(vq_recipe)
    data_dir = run_dir / PRIOR_DIR / "data"
    longest = 1
    for split, name in (("train", "train.txt"), ("eval", "valid.txt")):
        texts = [row[column] for row in raw_split(vq_recipe, split)]
        longest = max(longest, write_code_corpus(model, texts, data_dir / name))
    settings = [
        f"data.train_files=[{data_dir / 'train.txt'}]",
        f"data.eval_files=[{data_dir / 'valid.txt'}]",
        f"data.max_seq_length={longest}",
        f"data.vocab_size={model.code_vocab_size + 5}",
        f"train.output_dir={run_dir / PRIOR_DIR}",
        *(overrides or []),
    ]
    recipe = load_recipe(recipe_path, settings, base=json.loads(json.dumps(DEFAULT_PRIOR)))
    decoder = recipe.model.setdefault("decoder_config", {})
    key = "n_positions" if decoder.get("model_type", "gpt2") == "gpt2" else "max_position_embeddings"
    multiple = max(1, recipe.train.pad_to_multiple_of)  # [BOS] codes [EOS], padded to the batch width multiple, must fit
    decoder[key] = max(int(decoder.get(key) or 0), -(-(longest + 2) // multiple) * multiple)
    if recipe.train.pack_length:  # a packed row holds at least the longest code sequence
        recipe.train.pack_length = max(recipe.train.pack_length, longest + 2)
    return train(recipe)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m textae.training.prior", description="train the AR prior over the codes of a VQ run")
    parser.add_argument("run_dir")
    parser.add_argument("overrides", nargs="*", help="section.key=value for the prior's recipe")
    parser.add_argument("--recipe", default=None, help="a recipe for the prior (the built-in small GPT-2 otherwise)")
    args = parser.parse_args(argv)
    result = train_prior(args.run_dir, args.overrides, args.recipe)
    ev = result.metrics["eval"]
    print(f"prior: NLL {ev['nll_per_sentence']:.3f} nats per sentence's codes, PPL {ev['ppl']:.2f} per code; saved to {result.model_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
