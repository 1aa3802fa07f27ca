import random
import re

import pytest

from textae.noise import (
    EMOJI,
    INSERTABLE_CHARACTERS,
    PUNCTUATION,
    insert_emoji,
    insert_punctuation,
    insert_spaces,
    repeat_punctuation,
    strip_inserted,
)

# clean inputs: no insertable character, spaces already collapsed; CJK, emoji (outside EMOJI),
# a combining accent and a ZWJ family among them
CLEAN = {
    "en": [
        "the cat sat on the mat",
        "a",
        "",
        "Hello world 🚀 from 北京",
        "naïve cafe\u0301 owner",
        "my 👨\u200d👩\u200d👧 and I love ❤️ it",
        "I love 中国菜 and 🐍 code",
    ],
    "zh": [
        "今天天气很好",
        "中国",
        "我用 Python 写代码",
        "你好🐍世界",
        "东京タワー 和 🚀 火箭",
        "北京 is nice",
        "字",
    ],
}
INSERTIONS = [insert_punctuation, insert_emoji, insert_spaces]


def test_clean_inputs_are_clean():
    for lang, texts in CLEAN.items():
        assert all(strip_inserted(t, lang) == t for t in texts)


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("where", ["words", "chars"])
@pytest.mark.parametrize("noise", INSERTIONS, ids=lambda f: f.__name__)
def test_stripping_the_inserted_characters_gives_back_the_original(noise, where, lang):
    rng = random.Random(f"{noise.__name__}-{where}-{lang}")
    changed = 0
    for _ in range(300):
        text = rng.choice(CLEAN["en"] + CLEAN["zh"])  # each language also meets the other's script
        noisy = noise(text, rng.random(), rng, where=where, lang=lang, max_run=rng.randint(1, 4))
        assert strip_inserted(noisy, lang) == text, (text, noisy)
        changed += noisy != text
    assert changed > 100


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_invariant_holds_up_to_stripping_on_any_text(lang):
    # text that already holds punctuation and loose spaces: f(x) and x strip to the same string
    texts = ["Wow!  Really?? yes, no.", "好！真的吗？是，不。", " spaced  out ", "😀 already here"]
    rng = random.Random(0)
    for _ in range(200):
        text = rng.choice(texts)
        for noise in INSERTIONS:
            noisy = noise(text, rng.random(), rng, where=rng.choice(["words", "chars"]), lang=lang)
            assert strip_inserted(noisy, lang) == strip_inserted(text, lang)
        noisy = repeat_punctuation(text, rng.random(), rng, lang=lang)
        assert strip_inserted(noisy, lang) == strip_inserted(text, lang)


@pytest.mark.parametrize("noise", INSERTIONS + [repeat_punctuation], ids=lambda f: f.__name__)
def test_seeded_and_rate_zero_identity(noise):
    text = "Wow! the cat sat on the mat, 中国人"
    assert noise(text, 0.4, 3) == noise(text, 0.4, 3) == noise(text, 0.4, random.Random(3))
    assert len({noise(text, 0.4, s) for s in range(20)}) > 5
    assert all(noise(text, 0.0, s) == text for s in range(20))
    with pytest.raises(ValueError, match="rate"):
        noise(text, -0.1, 0)


def test_english_words_mode_sets_marks_apart_by_spaces():
    noisy = insert_punctuation("the cat sat", 1.0, 0)
    parts = noisy.split(" ")
    # a mark before every word and after the last: "m the m cat m sat m"
    assert parts[1::2] == ["the", "cat", "sat"]
    assert len(parts) == 7 and all(p in PUNCTUATION["en"] for p in parts[0::2])
    assert insert_spaces("a b", 1.0, 0) == " a  b "
    assert insert_spaces("ab", 1.0, 0, where="chars") == "a\u200bb"


def test_chinese_gets_full_width_punctuation_between_characters():
    noisy = insert_punctuation("中国", 1.0, 5, where="chars", lang="zh", max_run=4)
    assert re.fullmatch(r"中([，。！？、；：…])\1{0,3}国", noisy)  # e.g. 中，，，，国
    for seed in range(30):
        noisy = insert_punctuation("今天天气很好", 0.5, seed, where="words", lang="zh", max_run=3)
        assert set(noisy) - set("今天天气很好") <= set(PUNCTUATION["zh"])
    assert insert_spaces("中国人", 1.0, 0, where="chars", lang="zh") == "中\u3000国\u3000人"
    # every CJK character is a word in zh: a boundary between each two
    assert len(insert_emoji("中国人", 1.0, 0, lang="zh")) == 3 + 4


def test_insertion_never_tears_a_grapheme_apart():
    family, accent = "👨\u200d👩\u200d👧", "e\u0301"
    for seed in range(20):
        noisy = insert_emoji(f"{family}{accent}x", 1.0, seed, where="chars")
        assert family in noisy and accent in noisy and len(noisy) == len(family + accent + "x") + 2  # 2 boundaries only


def test_repeat_punctuation():
    assert re.fullmatch(r"wow!{2,3} really\?{2,3}", repeat_punctuation("wow! really?", 1.0, 0))
    assert re.fullmatch(r"wow!{2,5}", repeat_punctuation("wow!", 1.0, 1, max_repeat=5))
    assert re.fullmatch(r"好！{2,3}", repeat_punctuation("好！", 1.0, 0, lang="zh"))
    assert repeat_punctuation("ok!", 1.0, 0, lang="zh") == "ok!"  # ASCII "!" is not a Chinese mark
    assert repeat_punctuation("no marks here", 1.0, 0) == "no marks here"


def test_insertable_sets_are_single_characters_and_documented_parts():
    for lang, table in INSERTABLE_CHARACTERS.items():
        assert all(len(ch) == 1 for ch in table)
        assert set(PUNCTUATION[lang]) | set(EMOJI) <= table
        assert " " not in table  # plain spaces are undone by collapsing, not deleted
    assert not set(PUNCTUATION["zh"]) & set(PUNCTUATION["en"])


def test_unknown_where_or_lang_names_the_value():
    with pytest.raises(ValueError, match="'between'"):
        insert_punctuation("a b", 0.5, 0, where="between")
    with pytest.raises(ValueError, match="'fr'"):
        insert_emoji("a b", 0.5, 0, lang="fr")
    with pytest.raises(ValueError, match="'fr'"):
        strip_inserted("a b", "fr")
