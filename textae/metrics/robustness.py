"""The robustness curve of a sentence encoder: STS Spearman ×100 of cos(emb(s1), emb(s2)) against the
gold scores, clean and with both sentences corrupted by each noise family at each rate, and the mean
cos(clean, noisy) of each sentence (how far the noise moves its embedding). ``mix`` draws one family
per sentence. Every corruption is seeded by (salt, rate, index): reruns score the same texts."""

from __future__ import annotations

import random
from collections.abc import Callable

import torch

from ..noise import delete_chars, delete_tokens, double_chars, example_seed, homoglyphs, insert_emoji
from ..noise import insert_punctuation, insert_spaces, keyboard_typos, swap_chars
from .core import spearman

DEFAULT_RATES = (0.05, 0.1, 0.2, 0.3)


def word_deletion(text: str, rate: float, rng) -> str:
    return " ".join(delete_tokens(text.split(), rate, rng=rng))


def _char_edits(text: str, rate: float, rng) -> str:
    return double_chars(swap_chars(text, rate / 2, rng=rng), rate / 2, rng=rng)


NOISE_FAMILIES: dict[str, dict[str, Callable]] = {
    "en": {
        "deletion": word_deletion,
        "punctuation": insert_punctuation,
        "emoji": insert_emoji,
        "typos": keyboard_typos,
        "char_edits": _char_edits,
        "homoglyphs": homoglyphs,
    },
    "zh": {
        "deletion": delete_chars,
        "punctuation": lambda t, r, rng: insert_punctuation(t, r, rng=rng, where="chars", lang="zh", max_run=3),
        "emoji": lambda t, r, rng: insert_emoji(t, r, rng=rng, where="chars", lang="zh"),
        "spaces": lambda t, r, rng: insert_spaces(t, r, rng=rng, where="chars", lang="zh"),
        "homoglyphs": homoglyphs,
    },
}


def corrupt(texts: list[str], lang: str, family: str, rate: float, salt: int) -> list[str]:
    """Each text corrupted by ``family`` ("mix": one family drawn per text), seeded by its index."""
    if lang not in NOISE_FAMILIES:
        raise ValueError(f"no noise families for language {lang!r}; known: {sorted(NOISE_FAMILIES)}")
    names = sorted(NOISE_FAMILIES[lang])
    if family != "mix" and family not in names:
        raise ValueError(f"unknown noise family {family!r} for {lang!r}; known: {[*names, 'mix']}")
    out = []
    for i, text in enumerate(texts):
        rng = random.Random(example_seed(salt, int(rate * 1000), i))
        name = rng.choice(names) if family == "mix" else family
        out.append(NOISE_FAMILIES[lang][name](text, rate, rng))
    return out


def robustness_curve(encode, s1: list[str], s2: list[str], gold: list[float], lang: str = "en", rates=DEFAULT_RATES) -> dict:
    """``encode``: texts → [N, d]. Spearman ×100 clean and per ``family@rate``, and mean cos(clean, noisy)."""
    cos = torch.nn.functional.cosine_similarity
    clean1, clean2 = encode(s1), encode(s2)
    out = {"clean": 100 * spearman(cos(clean1, clean2).tolist(), gold), "noisy": {}, "stability": {}}
    for family in [*sorted(NOISE_FAMILIES[lang]), "mix"]:
        for rate in rates:
            n1 = encode(corrupt(s1, lang, family, rate, salt=1))
            n2 = encode(corrupt(s2, lang, family, rate, salt=2))
            key = f"{family}@{rate}"
            out["noisy"][key] = 100 * spearman(cos(n1, n2).tolist(), gold)
            out["stability"][key] = torch.cat([cos(clean1, n1), cos(clean2, n2)]).mean().item()
    return out


def curve_table(curve: dict, lang: str = "en", rates=DEFAULT_RATES) -> str:
    """The curve as a Markdown table: one row per family, one column per rate."""
    lines = ["| noise | " + " | ".join(f"{r:g}" for r in rates) + " |", "| --- |" + " --- |" * len(rates)]
    lines.append("| clean | " + " | ".join(f"{curve['clean']:.1f}" for _ in rates) + " |")
    for family in [*sorted(NOISE_FAMILIES[lang]), "mix"]:
        lines.append(f"| {family} | " + " | ".join(f"{curve['noisy'][f'{family}@{r}']:.1f}" for r in rates) + " |")
    return "\n".join(lines)
