import random

import pytest

from textae.noise import HOMOGLYPHS, QWERTY_NEIGHBOURS, delete_chars, double_chars, homoglyphs, keyboard_typos, swap_chars

TEXTS = ["Hello World 123", "the quick brown fox", "naïve 中国 🚀 ok!", "  two  spaces\tand tab\n"]
NOISES = [keyboard_typos, swap_chars, delete_chars, double_chars, homoglyphs]


@pytest.mark.parametrize("noise", NOISES, ids=lambda f: f.__name__)
def test_seeded_rate_zero_identity_whitespace_untouched(noise):
    text = TEXTS[0] + " " + TEXTS[3]
    assert noise(text, 0.3, 4) == noise(text, 0.3, 4) == noise(text, 0.3, random.Random(4))
    assert len({noise(text, 0.3, s) for s in range(20)}) > 10
    assert all(noise(text, 0.0, s) == text for s in range(20))
    for seed in range(20):
        noisy = noise(text, 1.0, seed)
        # whitespace runs neither move nor change: the words between them are what the noise touches
        assert [c for c in noisy if c.isspace()] == [c for c in text if c.isspace()]
        assert len(noisy.split()) == len(text.split()) or noise is delete_chars
    with pytest.raises(ValueError, match="rate"):
        noise(text, 2, 0)


def test_keyboard_typos_are_real_qwerty_neighbours():
    assert set(QWERTY_NEIGHBOURS["a"]) == set("qwsz")
    assert set(QWERTY_NEIGHBOURS["g"]) == set("tyfhvb")
    assert set(QWERTY_NEIGHBOURS["k"]) == set("ijlmo")
    assert set(QWERTY_NEIGHBOURS["5"]) == set("46rt")
    assert set(QWERTY_NEIGHBOURS["M"]) == set("JKN")
    # adjacency of the keys themselves (lower case and digits) is symmetric
    keys = [k for k in QWERTY_NEIGHBOURS if not k.isupper()]
    assert len(keys) == 36 and all(k in QWERTY_NEIGHBOURS[n] for k in keys for n in QWERTY_NEIGHBOURS[k])
    for text in TEXTS:
        for seed in range(30):
            noisy = keyboard_typos(text, 0.5, seed)
            assert len(noisy) == len(text)
            for o, n in zip(text, noisy):
                if o != n:
                    assert n in QWERTY_NEIGHBOURS[o]
                    assert o.isalnum() and o.isascii() and (n.isdigit() or n.isupper() == o.isupper())  # case kept
    assert all(o != n for o, n in zip("HelloWorld", keyboard_typos("HelloWorld", 1.0, 0)))
    assert keyboard_typos("中国 ! 🚀", 1.0, 0) == "中国 ! 🚀"


def test_homoglyphs_change_only_characters_with_look_alikes_and_keep_length():
    assert "ε" in HOMOGLYPHS["E"] and "0" in HOMOGLYPHS["O"] and "1" in HOMOGLYPHS["l"]
    assert "\u0430" in HOMOGLYPHS["a"] and "\u0391" in HOMOGLYPHS["A"] and "Ａ" in HOMOGLYPHS["A"]
    assert HOMOGLYPHS["！"] == "!"
    assert all(len(alt) == 1 and ch in HOMOGLYPHS[alt] for ch, alts in HOMOGLYPHS.items() for alt in alts)
    for text in TEXTS:
        for seed in range(30):
            noisy = homoglyphs(text, 0.5, seed)
            assert len(noisy) == len(text)
            for o, n in zip(text, noisy):
                assert o == n or n in HOMOGLYPHS[o]
        # at rate 1 every character that has a look-alike changes, and no other
        full = homoglyphs(text, 1.0, 0)
        assert all((o != n) == (o in HOMOGLYPHS) for o, n in zip(text, full))
    assert homoglyphs("中国 🚀", 1.0, 0) == "中国 🚀"


def test_swap_delete_double_exact():
    assert swap_chars("abcd ef", 1.0, 0) == "badc fe"
    assert swap_chars("a b", 1.0, 0) == "a b"  # nothing to swap across a space
    assert delete_chars("ab c\td", 1.0, 0) == " \t"
    assert double_chars("ab c", 1.0, 0) == "aabb cc"
    for seed in range(30):
        text = TEXTS[1]
        assert sorted(swap_chars(text, 0.5, seed)) == sorted(text)
        out = delete_chars(text, 0.5, seed)
        it = iter(text)
        assert all(c in it for c in out)
        assert double_chars(text, 0.5, seed).replace(" ", "") != "" and len(double_chars(text, 0.5, seed)) >= len(text)


def test_rate_is_per_character():
    text = "abcdefghij " * 100
    letters = 1000
    assert 1 - len(delete_chars(text, 0.2, 0).replace(" ", "")) / letters == pytest.approx(0.2, abs=0.04)
    assert len(double_chars(text, 0.2, 0).replace(" ", "")) / letters - 1 == pytest.approx(0.2, abs=0.04)
    changed = sum(o != n for o, n in zip(text, keyboard_typos(text, 0.2, 0)))
    assert changed / letters == pytest.approx(0.2, abs=0.04)
