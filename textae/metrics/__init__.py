"""Metrics: plain functions (:mod:`.core`), model evaluation (:mod:`.evaluation`), and offline
``evaluate`` modules (:func:`load`)."""

from pathlib import Path

from .core import corpus_bleu, exact_match, perplexity, spearman, token_accuracy

EVALUATE_MODULES = {
    path.stem.removeprefix("textae_"): path
    for path in (Path(__file__).parent / "evaluate_modules").glob("textae_*.py")
}


def load(name: str):
    """An ``evaluate`` metric by name (bleu, exact_match, token_accuracy, perplexity), loaded from the
    package's own module files: nothing is fetched from the hub."""
    import evaluate

    if name not in EVALUATE_MODULES:
        raise ValueError(f"unknown metric {name!r}; available: {sorted(EVALUATE_MODULES)}")
    return evaluate.load(str(EVALUATE_MODULES[name]))


__all__ = ["EVALUATE_MODULES", "corpus_bleu", "exact_match", "load", "perplexity", "spearman", "token_accuracy"]
