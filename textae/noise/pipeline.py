"""Composing noises from a list of specs, seeded per example.

A spec is a dict ``{"name": <a key of NOISES>, "rate": ..., <other options of that function>}``.
Two options belong to the pipeline, not to the function: ``rate`` may be a list of rates, one drawn
per example (several rates in one run: ``rate: [0.05, 0.1, 0.2, 0.3]``), and ``p`` is the
probability that the step acts on an example at all (default 1), so a chain of steps can corrupt
each sentence with only some of them.
:class:`NoisePipeline` splits the steps by level: text steps run on the string before tokenisation,
token steps on the ids after it; each level keeps the order of the list. Each call takes a seed,
which the caller derives with :func:`example_seed` from (base seed, epoch, example index): the
corruption of an example changes every epoch yet a rerun (or a resume) gives the same one.

The continuous noises (embedding white noise, latent dropout) act inside the model and are not
pipeline steps.
"""

from __future__ import annotations

import hashlib
import inspect
import random
from collections.abc import Callable, Iterable, Mapping, Sequence

from . import chars, tokens
from . import text as text_noise

TEXT_NOISES: dict[str, Callable[..., str]] = {
    "insert_punctuation": text_noise.insert_punctuation,
    "insert_emoji": text_noise.insert_emoji,
    "insert_spaces": text_noise.insert_spaces,
    "repeat_punctuation": text_noise.repeat_punctuation,
    "keyboard_typos": chars.keyboard_typos,
    "swap_chars": chars.swap_chars,
    "delete_chars": chars.delete_chars,
    "double_chars": chars.double_chars,
    "homoglyphs": chars.homoglyphs,
}
TOKEN_NOISES: dict[str, Callable[..., list[int]]] = {
    "mask_tokens": tokens.mask_tokens,
    "delete_tokens": tokens.delete_tokens,
    "replace_tokens": tokens.replace_tokens,
    "mask_spans": tokens.mask_spans,
}
NOISES: dict[str, Callable] = {**TEXT_NOISES, **TOKEN_NOISES}
"""Every noise a spec can name: name → function ``f(data, rate, ..., rng=...)``."""


def _mix(*values: int) -> int:
    """A 63-bit int hashed from ``values``: nearby inputs give unrelated seeds (fits torch too)."""
    digest = hashlib.blake2b(":".join(str(int(v)) for v in values).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def example_seed(base_seed: int, epoch: int, index: int) -> int:
    """The seed of example ``index`` in ``epoch`` of a run seeded with ``base_seed``.

    A hash, not ``base_seed + epoch + index``: (epoch 1, example 0) and (epoch 0, example 1) must
    not share their corruption.

    >>> example_seed(0, 0, 1) == example_seed(0, 0, 1) != example_seed(0, 1, 0)
    True
    """
    return _mix(base_seed, epoch, index)


def _options_of(fn: Callable) -> tuple[set[str], set[str]]:
    """(all options, required options) of a noise function: its parameters but the data and rng."""
    params = list(inspect.signature(fn).parameters.values())[1:]
    params = [p for p in params if p.name != "rng"]
    return {p.name for p in params}, {p.name for p in params if p.default is inspect.Parameter.empty}


class NoisePipeline:
    """Noise steps built from specs, e.g.
    ``[{"name": "insert_punctuation", "rate": 0.1}, {"name": "delete_tokens", "rate": 0.3}]``.

    Args:
        specs: the steps, each a mapping with ``name`` and that noise's options.
        mask_id, vocab_size, special_ids: what token steps need from the tokenizer; each fills the
            option ``mask_id`` / ``vocab_size`` / ``exclude`` of a step that takes it and whose spec
            does not set it.

    An unknown noise name, an unknown option, a missing required option or a bad value (a rate
    outside [0, 1], …) raises ValueError here, naming the step, not in the middle of an epoch.

    >>> pipe = NoisePipeline([{"name": "insert_punctuation", "rate": 0.5}, {"name": "delete_tokens", "rate": 0.5}])
    >>> pipe.text("the cat sat", seed=example_seed(0, 0, 7))
    '? the . cat sat :'
    >>> pipe.tokens([10, 11, 12, 13], seed=example_seed(0, 0, 7))
    [10, 13]
    """

    def __init__(
        self,
        specs: Iterable[Mapping],
        *,
        mask_id: int | None = None,
        vocab_size: int | None = None,
        special_ids: Sequence[int] = (),
    ):
        context = {"mask_id": mask_id, "vocab_size": vocab_size, "exclude": tuple(special_ids)}
        self.text_steps: list[tuple[str, dict]] = []
        self.token_steps: list[tuple[str, dict]] = []
        self._draws: dict[int, tuple[float, list | None]] = {}  # id(options) → (p, rates drawn from)
        for i, spec in enumerate(specs):
            name, options, draw = self._parse(i, spec, context)
            (self.text_steps if name in TEXT_NOISES else self.token_steps).append((name, options))
            self._draws[id(options)] = draw

    @staticmethod
    def _parse(i: int, spec: Mapping, context: Mapping) -> tuple[str, dict, tuple[float, list | None]]:
        if not isinstance(spec, Mapping) or "name" not in spec:
            raise ValueError(f"noise step {i} must be a mapping with a 'name', got {spec!r}")
        options = dict(spec)
        name = options.pop("name")
        p = options.pop("p", 1.0)
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
            raise ValueError(f"noise {name!r} (step {i}): p, the probability that the step acts, must be in [0, 1], got {p!r}")
        rates = options.get("rate")
        if isinstance(rates, (list, tuple)):
            if not rates:
                raise ValueError(f"noise {name!r} (step {i}): a list of rates needs at least one rate")
            rates = list(rates)
            options["rate"] = rates[0]  # checked below with each of the others
        else:
            rates = None
        if name not in NOISES:
            raise ValueError(f"unknown noise {name!r} (step {i}); known noises: {sorted(NOISES)}")
        fn = NOISES[name]
        allowed, required = _options_of(fn)
        unknown = sorted(set(options) - allowed)
        if unknown:
            raise ValueError(f"noise {name!r} (step {i}) has no option {', '.join(map(repr, unknown))}; its options: {sorted(allowed)}")
        for key, value in context.items():
            if key in allowed and key not in options and value is not None:
                options[key] = value
        missing = sorted(required - set(options))
        if missing:
            needed = ", ".join(map(repr, missing))
            raise ValueError(f"noise {name!r} (step {i}) needs option {needed} (set it in the spec or pass it to NoisePipeline)")
        # a dry run on empty input checks the values now rather than at the first batch
        for rate in rates or [options.get("rate")]:
            try:
                fn("" if name in TEXT_NOISES else [], rng=random.Random(0), **({**options, "rate": rate} if rates else options))
            except (TypeError, ValueError) as err:
                raise ValueError(f"noise {name!r} (step {i}): {err}") from err
        return name, options, (float(p), rates)

    def step_options(self, options: dict, rng: random.Random) -> dict | None:
        """This example's options of a step (its rate drawn from the list), or None if it skips it.
        Drawn from a stream of its own, so a step without ``p`` or a list draws exactly as before."""
        p, rates = self._draws[id(options)]
        if p < 1.0 and rng.random() >= p:
            return None
        return {**options, "rate": rng.choice(rates)} if rates else options

    def __bool__(self) -> bool:
        return bool(self.text_steps or self.token_steps)

    def __repr__(self) -> str:
        steps = []
        for n, o in self.text_steps + self.token_steps:
            p, rates = self._draws[id(o)]
            steps.append({"name": n, **o, **({"rate": rates} if rates else {}), **({"p": p} if p < 1.0 else {})})
        return f"NoisePipeline({steps!r})"

    def text(self, text: str, seed: int) -> str:
        """Applies the text steps, in order, to one example's string (before tokenisation)."""
        for k, (name, options) in enumerate(self.text_steps):
            # one stream per step: a step's draws do not depend on how many the others made
            chosen = self.step_options(options, random.Random(_mix(seed, 2, k)))
            if chosen is not None:
                text = NOISES[name](text, rng=random.Random(_mix(seed, 0, k)), **chosen)
        return text

    def tokens(self, ids: Sequence[int], seed: int) -> list[int]:
        """Applies the token steps, in order, to one example's ids (no special tokens)."""
        ids = list(ids)
        for k, (name, options) in enumerate(self.token_steps):
            chosen = self.step_options(options, random.Random(_mix(seed, 3, k)))
            if chosen is not None:
                ids = NOISES[name](ids, rng=random.Random(_mix(seed, 1, k)), **chosen)
        return ids
