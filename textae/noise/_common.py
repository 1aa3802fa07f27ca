"""Argument checks shared by every noise: the random source and the rate."""

from __future__ import annotations

import random

LANGS = ("en", "zh")


def as_rng(rng: random.Random | int) -> random.Random:
    """``rng`` itself, or a fresh ``random.Random`` seeded with the int ``rng``.

    None is refused: the global random state would make the corruption irreproducible.
    """
    if isinstance(rng, random.Random):
        return rng
    if isinstance(rng, int) and not isinstance(rng, bool):
        return random.Random(rng)
    raise TypeError(f"rng must be a random.Random or an int seed, got {type(rng).__name__}")


def check_rate(rate: float, name: str = "rate") -> float:
    """``rate`` as a float, or ValueError when it is not a probability in [0, 1]."""
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0.0 <= rate <= 1.0:
        raise ValueError(f"{name} must be a number in [0, 1], got {rate!r}")
    return float(rate)


def check_lang(lang: str) -> str:
    if lang not in LANGS:
        raise ValueError(f"unknown lang {lang!r}; choose one of {LANGS}")
    return lang


def check_positive_int(value: int, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int ≥ {minimum}, got {value!r}")
    return value
