"""Checks of what users pass to the model API (``encode``, ``reconstruct``, ``score``, ``sample``,
``decode``), so that a wrong kind of input is named instead of failing deep inside a tokenizer.

Accepted as users expect: a single string (one text), any iterable of strings (a list, a tuple, a
generator, a numpy array of strings, a ``datasets`` column). Refused with a message that names the
problem: numbers or other non-strings among the texts, ``n`` below 1, a temperature or top-p out of
range, a latent of the wrong size.
"""

from __future__ import annotations

import math

import numpy as np
import torch


def as_texts(texts, what: str = "texts") -> list[str]:
    """``texts`` as a list of str; a single string is one text."""
    if isinstance(texts, str):
        return [texts]
    if isinstance(texts, np.ndarray) and texts.dtype.kind not in "USO":
        raise TypeError(f"{what} must be strings; got a numpy array of {texts.dtype}")
    if texts is None or isinstance(texts, (bytes, int, float, bool, torch.Tensor)):
        raise TypeError(f"{what} must be a string or an iterable of strings, got {type(texts).__name__}")
    try:
        items = list(texts)
    except TypeError:
        raise TypeError(f"{what} must be a string or an iterable of strings, got {type(texts).__name__}") from None
    for index, item in enumerate(items):
        if not isinstance(item, str):
            raise TypeError(f"{what} must be strings; item {index} is {type(item).__name__} ({item!r:.40})")
    return [str(item) for item in items]  # numpy's str_ → str


def check_sampling(n: int, temperature: float = 1.0, top_p: float = 1.0) -> None:
    """``n`` ≥ 1 samples, temperature > 0, top-p in (0, 1]."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"n must be an integer, got {type(n).__name__} ({n!r})")
    if n < 1:
        raise ValueError(f"n must be ≥ 1, got {n}")
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r} (for greedy decoding keep greedy=True)")
    if not (isinstance(top_p, (int, float)) and 0 < top_p <= 1):
        raise ValueError(f"top_p must be in (0, 1], got {top_p!r}")


def check_latent(latent, width: int) -> torch.Tensor:
    """A latent batch [N, width] (or [N, L, width], one per position); a single latent [width] is one row."""
    if not isinstance(latent, torch.Tensor):
        try:
            latent = torch.as_tensor(np.asarray(latent, dtype=np.float32))
        except (TypeError, ValueError):
            raise TypeError(f"latent must be a tensor [N, {width}], got {type(latent).__name__}") from None
    if latent.dim() == 1:
        latent = latent[None]
    if latent.dim() not in (2, 3) or latent.shape[-1] != width:
        raise ValueError(f"latent must have shape [N, {width}] for this model (latent_dim {width}), got {list(latent.shape)}")
    return latent
