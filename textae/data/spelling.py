"""A spell-correcting front end for sentence embeddings (English): the text is folded (look-alike
characters → Latin, :func:`~textae.data.tokenization.fold_text`), then each sentence goes through
symspellpy's compound lookup with its bundled English frequency dictionary (82,765 words; no
download), which corrects words within ``max_edit_distance`` edits, splits and joins words, and drops
punctuation, emoji and case.

It reads text before any model does, so it composes with every encoder: ``model.encode(corrector(texts))``
in Python, ``--correct-spelling`` on ``textae encode`` and ``textae eval``, and in front of
``SentenceTransformer.encode`` for an exported model. It needs ``pip install "textae[spell]"``.

Where it helps and where it costs (README, "Noise-robust embeddings on STS-B"): it recovers much of
what keyboard typos and character edits take from an embedding, and it changes clean sentences a
little (proper nouns, rare words, casing), so it is for input known to be noisy. Folding comes
first because a word with a Cyrillic letter in it is several edits from its Latin spelling.
"""

from __future__ import annotations

import importlib.resources
from collections import OrderedDict
from functools import cache

from .tokenization import fold_text

DICTIONARY = "frequency_dictionary_en_82_765.txt"


@cache
def english_speller():
    """symspellpy's index of its English dictionary, built once per process (seconds: it holds every
    deletion of every word within two edits) and shared by every corrector, which only reads it."""
    try:
        from symspellpy import SymSpell
    except ImportError as err:
        raise ImportError('the spell-correcting front end needs symspellpy: pip install "textae[spell]"') from err
    speller = SymSpell(max_dictionary_edit_distance=2, prefix_length=7)
    path = importlib.resources.files("symspellpy") / DICTIONARY
    if not speller.load_dictionary(str(path), term_index=0, count_index=1):
        raise FileNotFoundError(f"symspellpy's English dictionary was not found at {path}")
    return speller


class SpellingCorrector:
    """texts → corrected texts. A str gives a str, a list a list.

    Args:
        max_edit_distance: the most edits between a word and its correction (symspellpy's, ≤ 2 with
            the dictionary built here).
        fold: fold look-alike characters first (see the module docstring).
        cache_size: corrected sentences kept, most recent first: a sentence seen again costs nothing.
    """

    def __init__(self, max_edit_distance: int = 2, fold: bool = True, cache_size: int = 100_000):
        if not 0 <= max_edit_distance <= 2:
            raise ValueError(f"max_edit_distance must be 0, 1 or 2, got {max_edit_distance}")
        self.max_edit_distance = max_edit_distance
        self.fold = fold
        self.cache_size = cache_size
        self._cache: OrderedDict[str, str] = OrderedDict()
        self._speller = english_speller()

    def __call__(self, texts: str | list[str]) -> str | list[str]:
        if isinstance(texts, str):
            return self.correct(texts)
        return [self.correct(text) for text in texts]

    def correct(self, text: str) -> str:
        """One sentence → its correction; a text with nothing to look up (empty, only punctuation)
        is returned as it came."""
        if not isinstance(text, str):
            raise TypeError(f"SpellingCorrector reads strings, got {type(text).__name__}")
        if text in self._cache:
            self._cache.move_to_end(text)
            return self._cache[text]
        folded = fold_text(text) if self.fold else text
        found = self._speller.lookup_compound(folded, max_edit_distance=self.max_edit_distance) if folded.strip() else []
        corrected = found[0].term if found and found[0].term else folded
        self._cache[text] = corrected
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return corrected
