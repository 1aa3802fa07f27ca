"""Noise with its labels: every character of a corrupted text tagged with what made it, and those
tags carried to the tokens a tokenizer cuts the text into. These are the classes a noise tagger
learns (original, replaced word, inserted character, typo, look-alike).

Each text step of :mod:`textae.noise` runs as it is; the characters it changed are found by aligning
its output with its input (``difflib``, no junk heuristic), and only those take the step's class, so
chained steps keep the tags of earlier ones. A deleted character tags its neighbour (the token that
lost it is misspelt). ``replace_words`` (here) swaps whole words for others of a vocabulary.

>>> import random
>>> text, tags = corrupt_with_tags("the cat sat", [("insert_punctuation", 1.0)], random.Random(0))
>>> [TAG_NAMES[t] for t in tags][:4], text[:4]
(['original', 'original', 'original', 'inserted'], 'the ')
"""

from __future__ import annotations

import difflib
import random
from collections.abc import Mapping, Sequence

from ._common import as_rng, check_rate
from .pipeline import NoisePipeline, _mix
from .chars import delete_chars, double_chars, homoglyphs, keyboard_typos, swap_chars
from .text import insert_emoji, insert_punctuation, insert_spaces, repeat_punctuation

ORIGINAL, REPLACED, INSERTED, TYPO, LOOKALIKE = range(5)
TAG_NAMES = ("original", "replaced", "inserted", "typo", "lookalike")
# a token holding characters of several classes takes the one that changes its meaning most
PRIORITY = (ORIGINAL, INSERTED, REPLACED, TYPO, LOOKALIKE)


def replace_words(text: str, rate: float, rng: random.Random | int, vocabulary: Sequence[str]) -> str:
    """Replaces each whitespace-separated word, with probability ``rate``, by a word drawn from
    ``vocabulary`` (never itself)."""
    rate, rng = check_rate(rate), as_rng(rng)
    if not vocabulary:
        raise ValueError("replace_words needs a vocabulary to draw the replacements from")
    out = []
    for word in text.split(" "):
        if word and rng.random() < rate:
            choice = rng.choice(vocabulary)
            word = choice if choice != word else rng.choice(vocabulary)
        out.append(word)
    return " ".join(out)


TAGGED_STEPS = {
    "insert_punctuation": (insert_punctuation, INSERTED),
    "insert_emoji": (insert_emoji, INSERTED),
    "insert_spaces": (insert_spaces, INSERTED),
    "repeat_punctuation": (repeat_punctuation, INSERTED),
    "keyboard_typos": (keyboard_typos, TYPO),
    "swap_chars": (swap_chars, TYPO),
    "delete_chars": (delete_chars, TYPO),
    "double_chars": (double_chars, TYPO),
    "homoglyphs": (homoglyphs, LOOKALIKE),
    "replace_words": (replace_words, REPLACED),
}


def retag(before: str, tags: list[int], after: str, cls: int) -> list[int]:
    """The tags of ``after``, a step's output from ``before`` (tagged ``tags``): unchanged characters
    keep theirs, changed or new ones get ``cls``. A step that keeps the length (a substitution, a
    swap) is compared position by position; one that inserts or deletes is aligned with ``difflib``,
    and a deletion tags a neighbour in the same word (the one before it, else the one after)."""
    if len(tags) != len(before):
        raise ValueError(f"{len(tags)} tags for a text of {len(before)} characters")
    if len(before) == len(after):
        return [tag if a == b else _stronger(tag, cls) for tag, a, b in zip(tags, before, after)]
    out: list[int] = []
    deleted_at: list[int] = []  # positions in ``out`` where characters went missing
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, before, after, autojunk=False).get_opcodes():
        if op == "equal":
            out.extend(tags[i1:i2])
        elif op == "delete":
            deleted_at.append(len(out))
        else:  # replace / insert
            out.extend([cls] * (j2 - j1))
    for at in deleted_at:
        before_ok = at > 0 and not after[at - 1].isspace()
        target = at - 1 if before_ok else at
        if 0 <= target < len(out) and not after[target].isspace():
            out[target] = _stronger(out[target], cls)
    return out


def corrupt_with_tags(text: str, steps: Sequence[tuple], rng: random.Random | int, vocabulary: Sequence[str] = ()) -> tuple[str, list[int]]:
    """``text`` through ``steps`` ((name, rate) or (name, rate, options)) in order, and the tag of
    each character of the result."""
    rng = as_rng(rng)
    tags = [ORIGINAL] * len(text)
    for step in steps:
        name, rate, options = step[0], step[1], dict(step[2]) if len(step) > 2 else {}
        if name not in TAGGED_STEPS:
            raise ValueError(f"unknown tagged noise step {name!r}; known: {sorted(TAGGED_STEPS)}")
        fn, cls = TAGGED_STEPS[name]
        if name == "replace_words":
            options["vocabulary"] = vocabulary
        after = fn(text, rate, rng, **options)
        tags, text = retag(text, tags, after, cls), after
    return text, tags


# replace_words is no pipeline noise (its vocabulary comes from the model, not the spec); its spec is
# checked as this stand-in's, which takes the same options (a rate, or a list of them, and p)
_RATE_ONLY_STAND_IN = "swap_chars"


class TaggedNoise:
    """Tagged steps from specs in :class:`~textae.noise.NoisePipeline`'s format (``name``, ``rate``
    or a list of rates drawn per example, ``p`` the share of examples a step acts on), applied to one
    example's text with its seed: ``(corrupted text, tag of each character)``.

    The draws are the pipeline's own streams, so without ``replace_words`` the corrupted text is
    exactly ``NoisePipeline(specs).text(text, seed)``; ``vocabulary`` feeds ``replace_words``.
    """

    def __init__(self, specs: Sequence[Mapping], vocabulary: Sequence[str] = ()):
        self.steps = [self._parse(i, spec) for i, spec in enumerate(specs)]
        self.vocabulary = list(vocabulary)
        if any(name == "replace_words" for name, _ in self.steps) and not self.vocabulary:
            raise ValueError("replace_words needs a vocabulary to draw the replacements from")

    @staticmethod
    def _parse(i: int, spec: Mapping) -> tuple[str, NoisePipeline]:
        name = spec.get("name") if isinstance(spec, Mapping) else None
        if name not in TAGGED_STEPS:
            raise ValueError(f"unknown tagged noise step {name!r} (step {i}); known: {sorted(TAGGED_STEPS)}")
        stand_in = {**spec, "name": _RATE_ONLY_STAND_IN} if name == "replace_words" else spec
        try:
            return name, NoisePipeline([stand_in])
        except ValueError as err:
            raise ValueError(str(err).replace(repr(_RATE_ONLY_STAND_IN), repr(name)).replace("(step 0)", f"(step {i})")) from None

    def __call__(self, text: str, seed: int) -> tuple[str, list[int]]:
        tags = [ORIGINAL] * len(text)
        for k, (name, pipe) in enumerate(self.steps):
            options = pipe.step_options(pipe.text_steps[0][1], random.Random(_mix(seed, 2, k)))
            if options is None:
                continue
            fn, cls = TAGGED_STEPS[name]
            extra = {"vocabulary": self.vocabulary} if name == "replace_words" else {}
            after = fn(text, rng=random.Random(_mix(seed, 0, k)), **options, **extra)
            tags, text = retag(text, tags, after, cls), after
        return text, tags

    def __repr__(self) -> str:
        return f"TaggedNoise({[name for name, _ in self.steps]}, vocabulary of {len(self.vocabulary)} words)"


def token_tags(char_tags: Sequence[int], offsets: Sequence[tuple[int, int]]) -> list[int]:
    """The tag of each token from its characters' (``offsets``: each token's [start, end) in the
    text, as fast tokenizers return them): the strongest class among them (see :data:`PRIORITY`);
    a token that covers no character (a special token) is ORIGINAL."""
    return [max((char_tags[i] for i in range(start, end)), key=PRIORITY.index, default=ORIGINAL) for start, end in offsets]


def _stronger(a: int, b: int) -> int:
    return max(a, b, key=PRIORITY.index)
