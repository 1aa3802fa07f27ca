"""The spell-correcting front end: folding, then symspellpy's compound lookup."""

import pytest

from textae.noise import homoglyphs, keyboard_typos

pytest.importorskip("symspellpy", reason='the front end needs symspellpy (pip install "textae[spell]"; the [dev] extra has it)')

from textae.data.spelling import SpellingCorrector  # noqa: E402


@pytest.fixture(scope="module")
def corrector():
    return SpellingCorrector()


def test_misspelt_words_are_corrected_and_clean_words_kept(corrector):
    assert corrector("the quikc brown fox jumsp over teh lazy dog") == "the quick brown fox jump over the lazy dog"
    assert corrector("a man is playing a guitar") == "a man is playing a guitar"


def test_look_alikes_are_folded_before_the_lookup():
    text = "the hotel was lovely"
    spoofed = homoglyphs(text, 0.5, rng=3)
    assert spoofed != text
    assert SpellingCorrector(fold=True)(spoofed) == text
    assert SpellingCorrector(fold=False)(spoofed) != text  # a Cyrillic letter is more edits away than the lookup allows


def test_the_lookup_gives_back_more_words_than_the_typos_left(corrector):
    # keyboard_typos' rate is per character, so a long word at 0.2 can be two or three edits away
    words = "people walk their dogs along the river every morning before work".split()
    for seed in range(5):
        noisy = [keyboard_typos(w, 0.1, rng=100 * seed + i) for i, w in enumerate(words)]
        fixed = corrector(" ".join(noisy)).split()
        assert len(fixed) == len(words)
        assert sum(f == w for f, w in zip(fixed, words)) > sum(n == w for n, w in zip(noisy, words)), (noisy, fixed)


def test_lists_map_texts_and_nothing_to_look_up_comes_back_as_given(corrector):
    texts = ["teh dog", "", "   ", "!!!"]
    assert corrector(texts) == ["the dog", "", "   ", "!!!"]
    assert corrector(texts) == [corrector(t) for t in texts]  # the cache returns what the lookup did


def test_the_cache_stays_within_its_size():
    small = SpellingCorrector(cache_size=2)
    assert small(["one", "two", "three", "one"]) == ["one", "two", "three", "one"]
    assert len(small._cache) == 2


def test_bad_settings_and_input_are_named():
    with pytest.raises(ValueError, match="max_edit_distance"):
        SpellingCorrector(max_edit_distance=3)
    with pytest.raises(TypeError, match="reads strings"):
        SpellingCorrector()([b"bytes"])
