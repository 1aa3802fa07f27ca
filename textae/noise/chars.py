"""Character-level noise: typos and look-alike characters, on strings before tokenisation.

Every function maps ``str → str`` with a ``rate`` in [0, 1] and ``rng`` (a ``random.Random`` or an
int seed). Whitespace is never touched; each character the noise can act on is acted on with
probability ``rate`` (the others consume no randomness). The same seed gives the same output and
rate 0 is the identity.

- :func:`keyboard_typos`: a key's QWERTY neighbour instead of the key;
- :func:`swap_chars`, :func:`delete_chars`, :func:`double_chars`: the classic typing slips;
- :func:`homoglyphs`: a look-alike of another script or width (the "E and ε" distortion of the
  design notes; see Unicode TR39 confusables), one code point for one, so the length is kept.
"""

from __future__ import annotations

import random

from ._common import as_rng, check_rate

_QWERTY_ROWS = ("1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm")
# horizontal stagger of each row on a real keyboard, in key widths
_ROW_OFFSETS = (0.0, 0.5, 0.75, 1.25)


def _qwerty_neighbours() -> dict[str, str]:
    """Keys touching each key: left and right in its row, and the keys of the rows above and below
    whose centres lie less than one key width away. Upper case maps to upper-case neighbours."""
    pos = {k: (r, c + _ROW_OFFSETS[r]) for r, row in enumerate(_QWERTY_ROWS) for c, k in enumerate(row)}
    table = {}
    for k, (r, x) in pos.items():
        same_row = [o for o, (r2, x2) in pos.items() if r2 == r and abs(x2 - x) == 1]
        next_rows = [o for o, (r2, x2) in pos.items() if abs(r2 - r) == 1 and abs(x2 - x) < 1]
        near = sorted(same_row + next_rows)
        table[k] = "".join(near)
        if k.isalpha():
            table[k.upper()] = "".join(near).upper()
    return table


QWERTY_NEIGHBOURS: dict[str, str] = _qwerty_neighbours()
"""Key → the keys around it on a QWERTY keyboard (letters and digits), e.g. ``"g" → "bfhtvy"``."""

# sets of mutually confusable characters (Latin, Cyrillic, Greek, digits); every member maps to the others
_CONFUSABLE_GROUPS = (
    "AАΑ", "BВΒ", "CСϹ", "EЕΕε", "HНΗ", "IΙІl1", "JЈ", "KКΚ", "MМΜ", "NΝ", "OОΟ0", "PРΡ",
    "SЅ", "TТΤ", "XХΧ", "YΥҮ", "ZΖ",
    "aа", "cс", "dԁ", "eе", "hһ", "iі", "jј", "oоο", "pрρ", "sѕ", "vν", "wԝ", "xх", "yу",
)


def _homoglyph_table() -> dict[str, str]:
    table: dict[str, set[str]] = {}
    for group in _CONFUSABLE_GROUPS:
        for ch in group:
            table.setdefault(ch, set()).update(o for o in group if o != ch)
    # printable ASCII ↔ its full-width form (U+FF01..U+FF5E)
    for o in range(0x21, 0x7F):
        ch, wide = chr(o), chr(o + 0xFEE0)
        table.setdefault(ch, set()).add(wide)
        table.setdefault(wide, set()).add(ch)
    return {ch: "".join(sorted(alts)) for ch, alts in table.items()}


HOMOGLYPHS: dict[str, str] = _homoglyph_table()
"""Character → its look-alikes, each a single code point: Latin ↔ Cyrillic / Greek (``"a" ↔ "а"``,
``"E" ↔ "ε"``), ``O ↔ 0``, ``l ↔ 1 ↔ I``, and every printable ASCII character ↔ its full-width form
(``"A" ↔ "Ａ"``, ``"!" ↔ "！"``)."""


def _confusable_folds() -> dict[str, str]:
    folds = {}
    for group in _CONFUSABLE_GROUPS:
        latin = next(ch for ch in group if ch.isascii() and ch.isalpha())
        folds.update({ch: latin for ch in group if not ch.isascii()})
    return folds


CONFUSABLE_FOLDS: dict[str, str] = _confusable_folds()
"""Each Cyrillic / Greek look-alike → the Latin letter it imitates (``"а" → "a"``, ``"ε" → "E"``).
ASCII is never changed (``0``, ``1`` stay digits); full-width forms are NFKC's job. The inverse of
:func:`homoglyphs` for Latin-script text, used by ``textae.data.fold_confusables``."""


def _substitute(text: str, rate: float, rng: random.Random | int, table: dict[str, str]) -> str:
    rate, rng = check_rate(rate), as_rng(rng)
    return "".join(rng.choice(table[ch]) if ch in table and rng.random() < rate else ch for ch in text)


def keyboard_typos(text: str, rate: float, rng: random.Random | int) -> str:
    """Replaces each letter or digit, with probability ``rate``, by a neighbouring QWERTY key
    (``QWERTY_NEIGHBOURS``), keeping its case; other characters are left alone.

    >>> keyboard_typos("hello world", 0.2, rng=1)
    'bello w0rld'
    """
    return _substitute(text, rate, rng, QWERTY_NEIGHBOURS)


def homoglyphs(text: str, rate: float, rng: random.Random | int) -> str:
    """Replaces each character that has look-alikes (``HOMOGLYPHS``), with probability ``rate``, by
    one of them; characters without any (CJK, emoji, spaces) are left alone and the length is kept.

    >>> print(ascii(homoglyphs("COOL", 1.0, rng=0)))  # Cyrillic С, full-width Ｏ, Cyrillic О, full-width Ｌ
    '\\u0421\\uff2f\\u041e\\uff2c'
    """
    return _substitute(text, rate, rng, HOMOGLYPHS)


def swap_chars(text: str, rate: float, rng: random.Random | int) -> str:
    """Swaps a character with the next one, with probability ``rate``, when neither is whitespace;
    a swapped pair is not swapped again.

    >>> swap_chars("hello world", 0.2, rng=5)
    'hello wolrd'
    """
    rate, rng = check_rate(rate), as_rng(rng)
    chars, i = list(text), 0
    while i < len(chars) - 1:
        if not chars[i].isspace() and not chars[i + 1].isspace() and rng.random() < rate:
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
            i += 2
        else:
            i += 1
    return "".join(chars)


def delete_chars(text: str, rate: float, rng: random.Random | int) -> str:
    """Deletes each non-whitespace character with probability ``rate``.

    >>> delete_chars("hello world", 0.2, rng=5)
    'hello wrld'
    """
    rate, rng = check_rate(rate), as_rng(rng)
    return "".join(ch for ch in text if ch.isspace() or rng.random() >= rate)


def double_chars(text: str, rate: float, rng: random.Random | int) -> str:
    """Doubles each non-whitespace character with probability ``rate`` (a key pressed twice).

    >>> double_chars("hello world", 0.2, rng=6)
    'helloo world'
    """
    rate, rng = check_rate(rate), as_rng(rng)
    return "".join(ch * 2 if not ch.isspace() and rng.random() < rate else ch for ch in text)
