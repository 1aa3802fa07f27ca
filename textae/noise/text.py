"""Text-level insertion noise: characters that keep the meaning (punctuation, emoji, spaces) added to
a string before tokenisation (AEDA, Karimi et al. 2021, https://arxiv.org/abs/2108.13230).

Every function maps ``str → str`` with a ``rate`` in [0, 1] and ``rng`` (a ``random.Random`` or an
int seed); the same seed gives the same output and rate 0 is the identity.

Where characters go (``where``):

- ``"words"``: at word boundaries: before each word and after the last. A word is a run of
  non-space characters; for ``lang="zh"`` each CJK character is a word of its own too. In English a
  mark is set apart by a space (``"a b" → "a , b"``); in Chinese nothing is added around it.
- ``"chars"``: between any two adjacent characters (never inside a combining sequence or an emoji
  joined by ZWJ), with nothing around it: ``"中国" → "中，，，，国"``.

Each boundary receives a run of 1..``max_run`` inserted characters with probability ``rate``.

**The invariant.** :func:`strip_inserted` deletes every character of ``INSERTABLE_CHARACTERS[lang]``
and collapses whitespace (runs → one space, none at the ends). For every text ``x`` and every
insertion noise ``f`` of this module, ``strip_inserted(f(x), lang) == strip_inserted(x, lang)``; when
``x`` is *clean* (it contains no insertable character of ``lang`` and its spaces are already
collapsed, i.e. ``strip_inserted(x, lang) == x``) that reads ``strip_inserted(f(x), lang) == x``:
removing what was inserted gives back the original exactly. That is why the inserted spaces are
plain spaces only at English word gaps (collapsing undoes them), a zero-width space inside English
words (a visible space would split a word into two) and the ideographic space U+3000 in Chinese
(where a plain space between characters would not be undone).
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Callable

from ._common import as_rng, check_lang, check_positive_int, check_rate

PUNCTUATION: dict[str, str] = {
    # AEDA's six marks
    "en": ".,;:!?",
    # full-width marks of Chinese text
    "zh": "，。！？、；：…",
}
EMOJI = "😀😂😊😉👍🙏🔥✨🎉💯"
"""Single code points only, so one inserted emoji is one character to strip."""
ZERO_WIDTH_SPACE = "\u200b"
IDEOGRAPHIC_SPACE = "\u3000"
WHERE = ("words", "chars")

INSERTABLE_CHARACTERS: dict[str, frozenset[str]] = {
    "en": frozenset(PUNCTUATION["en"] + EMOJI + ZERO_WIDTH_SPACE),
    "zh": frozenset(PUNCTUATION["zh"] + EMOJI + IDEOGRAPHIC_SPACE),
}
"""What :func:`strip_inserted` deletes, per language. The plain space is inserted too (at English
word gaps) but is not listed: collapsing whitespace undoes it."""

# characters that belong to the one before them: an insertion there would tear a glyph apart
_JOINERS = frozenset("\u200d\ufe0e\ufe0f")


def is_cjk(ch: str) -> bool:
    """Whether ``ch`` is a CJK ideograph or a kana (a character that is a word of its own in zh)."""
    o = ord(ch)
    return 0x3040 <= o <= 0x30FF or 0x3400 <= o <= 0x4DBF or 0x4E00 <= o <= 0x9FFF or 0xF900 <= o <= 0xFAFF or 0x20000 <= o <= 0x3134F


def strip_inserted(text: str, lang: str = "en") -> str:
    """Deletes the insertable characters of ``lang`` and collapses whitespace: the inverse of the
    insertion noises on clean text (see the module docstring). A checking tool, not a text cleaner:
    it also deletes such characters when the original had them.

    >>> strip_inserted("I 😀 love , this\u200b movie !!", "en")
    'I love this movie'
    >>> strip_inserted("中，，，，国\u3000人", "zh")
    '中国人'
    """
    table = INSERTABLE_CHARACTERS[check_lang(lang)]
    return " ".join("".join(ch for ch in text if ch not in table).split())


def _word_slots(text: str, lang: str) -> list[int]:
    """Indices before each word and after the last one."""
    slots, prev_end = [], None
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        if lang == "zh" and is_cjk(text[i]):
            j = i + 1
        else:
            j = i + 1
            while j < n and not text[j].isspace() and not (lang == "zh" and is_cjk(text[j])):
                j += 1
        slots.append(i)
        prev_end, i = j, j
    if prev_end is not None:
        slots.append(prev_end)
    return slots


def _char_slots(text: str) -> list[int]:
    """Indices between two adjacent characters, except inside a combining or ZWJ sequence."""
    return [
        i
        for i in range(1, len(text))
        if not unicodedata.combining(text[i]) and text[i] not in _JOINERS and text[i - 1] != "\u200d"
    ]


def _insert(
    text: str,
    rate: float,
    rng: random.Random | int,
    where: str,
    lang: str,
    max_run: int,
    pick: Callable[[random.Random], str],
    spaced: bool,
) -> str:
    """At each slot, with probability ``rate``, inserts ``pick(rng)`` repeated 1..max_run times.

    ``spaced``: set the run apart by a plain space at English word boundaries.
    """
    rate, rng = check_rate(rate), as_rng(rng)
    check_lang(lang)
    check_positive_int(max_run, "max_run")
    if where not in WHERE:
        raise ValueError(f"unknown where {where!r}; choose one of {WHERE}")
    slots = _word_slots(text, lang) if where == "words" else _char_slots(text)
    pieces, start = [], 0
    for i in slots:
        if rng.random() >= rate:
            continue
        run = pick(rng) * rng.randint(1, max_run)
        if spaced and where == "words" and lang == "en":
            # before a word: "run word"; after the last word: "word run"
            run = run + " " if i < len(text) and not text[i].isspace() else " " + run
        pieces += [text[start:i], run]
        start = i
    pieces.append(text[start:])
    return "".join(pieces)


def insert_punctuation(
    text: str,
    rate: float,
    rng: random.Random | int,
    where: str = "words",
    lang: str = "en",
    max_run: int = 1,
) -> str:
    """Inserts punctuation marks (``PUNCTUATION[lang]``, full-width for Chinese) at the boundaries of
    ``where``, each with probability ``rate`` (AEDA). ``strip_inserted`` undoes it on clean text.

    >>> insert_punctuation("the cat sat on the mat", 0.3, rng=2)
    'the cat . sat on the mat'
    >>> insert_punctuation("中国", 0.5, rng=148, where="chars", lang="zh", max_run=4)
    '中，，，，国'
    """
    marks = PUNCTUATION[check_lang(lang)]
    return _insert(text, rate, rng, where, lang, max_run, lambda r: r.choice(marks), spaced=True)


def insert_emoji(
    text: str,
    rate: float,
    rng: random.Random | int,
    where: str = "words",
    lang: str = "en",
    max_run: int = 1,
) -> str:
    """Inserts emoji (``EMOJI``) at the boundaries of ``where``, each with probability ``rate``;
    ``lang`` sets the word boundaries and the spacing (see the module docstring).

    >>> insert_emoji("the cat sat on the mat", 0.3, rng=0)
    'the cat sat 🎉 on the mat'
    """
    return _insert(text, rate, rng, where, lang, max_run, lambda r: r.choice(EMOJI), spaced=True)


def insert_spaces(
    text: str,
    rate: float,
    rng: random.Random | int,
    where: str = "words",
    lang: str = "en",
    max_run: int = 1,
) -> str:
    """Inserts spaces at the boundaries of ``where``, each with probability ``rate``.

    English word gaps get plain spaces (``"a b" → "a   b"``); inside English words a zero-width
    space (U+200B), since a visible one would make two words; Chinese gets the ideographic space
    U+3000 (``"中国" → "中　国"``).

    >>> insert_spaces("the cat sat", 0.5, rng=0, max_run=3)
    'the cat   sat'
    >>> insert_spaces("中国人", 1.0, rng=0, where="chars", lang="zh")
    '中\u3000国\u3000人'
    """
    check_lang(lang)
    if lang == "zh":
        space = IDEOGRAPHIC_SPACE
    else:
        space = " " if where == "words" else ZERO_WIDTH_SPACE
    return _insert(text, rate, rng, where, lang, max_run, lambda r: space, spaced=False)


def repeat_punctuation(
    text: str,
    rate: float,
    rng: random.Random | int,
    lang: str = "en",
    max_repeat: int = 3,
) -> str:
    """Repeats each punctuation mark of ``PUNCTUATION[lang]`` already in the text, with probability
    ``rate``, to a run of 2..``max_repeat`` copies (``"!" → "!!!"``). Clean text has none to repeat,
    so on it this is the identity; ``strip_inserted`` gives the same result before and after.

    >>> repeat_punctuation("wow! really?", 1.0, rng=0)
    'wow!!! really???'
    >>> repeat_punctuation("好！", 1.0, rng=0, lang="zh")
    '好！！！'
    """
    rate, rng = check_rate(rate), as_rng(rng)
    marks = PUNCTUATION[check_lang(lang)]
    check_positive_int(max_repeat, "max_repeat", minimum=2)
    return "".join(ch * rng.randint(2, max_repeat) if ch in marks and rng.random() < rate else ch for ch in text)
