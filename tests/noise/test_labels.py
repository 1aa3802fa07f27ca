"""Tagged noise: each character of a corrupted text carries the class of the step that made it, and
tokens take the strongest class of their characters."""

import random

import pytest

from textae.noise.labels import INSERTED, LOOKALIKE, ORIGINAL, REPLACED, TAG_NAMES, TYPO, corrupt_with_tags, retag, token_tags

TEXTS = ["the quick brown fox jumps over the lazy dog", "a man with a hard hat is dancing", "it rains in the city today"]


@pytest.mark.parametrize("step", ["insert_punctuation", "insert_emoji", "repeat_punctuation", "keyboard_typos", "swap_chars", "delete_chars", "double_chars", "homoglyphs", "replace_words"])
def test_rate_zero_changes_nothing_and_tags_nothing(step):
    for text in TEXTS:
        out, tags = corrupt_with_tags(text, [(step, 0.0)], random.Random(0), vocabulary=["cat"])
        assert out == text and tags == [ORIGINAL] * len(text)


@pytest.mark.parametrize("step", ["insert_punctuation", "insert_emoji"])
def test_dropping_the_characters_tagged_inserted_gives_back_the_text(step):
    for seed, text in enumerate(TEXTS):
        out, tags = corrupt_with_tags(text, [(step, 0.5)], random.Random(seed))
        assert out != text and len(tags) == len(out)
        kept = "".join(ch for ch, tag in zip(out, tags) if tag != INSERTED)
        assert " ".join(kept.split()) == text  # the inserted runs and the spaces set around them
        assert set(tags) == {ORIGINAL, INSERTED}


@pytest.mark.parametrize("step, cls", [("keyboard_typos", TYPO), ("homoglyphs", LOOKALIKE)])
def test_a_substitution_tags_exactly_the_characters_it_changed(step, cls):
    for seed, text in enumerate(TEXTS):
        out, tags = corrupt_with_tags(text, [(step, 0.3)], random.Random(seed))
        assert len(out) == len(text)
        assert [i for i, tag in enumerate(tags) if tag == cls] == [i for i, (a, b) in enumerate(zip(text, out)) if a != b]


def test_every_word_a_typo_touched_has_a_typo_tag_and_the_others_none():
    rng = random.Random(4)
    for step in ("delete_chars", "double_chars", "swap_chars"):
        for text in TEXTS:
            out, tags = corrupt_with_tags(text, [(step, 0.15)], rng)
            words_in, words_out = text.split(" "), out.split(" ")
            assert len(words_in) == len(words_out)  # these steps never touch a space
            at = 0
            for before, after in zip(words_in, words_out):
                tagged = any(tag == TYPO for tag in tags[at : at + len(after)])
                assert tagged == (before != after), (step, before, after)
                at += len(after) + 1


def test_chained_steps_keep_the_earlier_tags_and_whole_words_are_replaced():
    out, tags = corrupt_with_tags(TEXTS[0], [("replace_words", 0.5), ("insert_emoji", 0.3), ("homoglyphs", 0.3)], random.Random(7), vocabulary=["river", "stone"])
    assert {REPLACED, INSERTED, LOOKALIKE} <= set(tags) and len(tags) == len(out)
    with pytest.raises(ValueError, match="needs a vocabulary"):
        corrupt_with_tags(TEXTS[0], [("replace_words", 0.5)], random.Random(0))
    with pytest.raises(ValueError, match="unknown tagged noise step 'smear'"):
        corrupt_with_tags(TEXTS[0], [("smear", 0.5)], random.Random(0))
    with pytest.raises(ValueError, match="3 tags for a text of 2 characters"):
        retag("ab", [0, 0, 0], "ab", TYPO)


def test_tokens_take_the_strongest_class_of_their_characters(tokenizer):
    text, tags = "the cat", [ORIGINAL] * 7
    tags[4], tags[6] = INSERTED, LOOKALIKE  # 'c' and 't' of "cat"
    assert token_tags(tags, [(0, 3), (4, 7), (0, 0)]) == [ORIGINAL, LOOKALIKE, ORIGINAL]
    assert [TAG_NAMES[t] for t in token_tags(tags, [(4, 5)])] == ["inserted"]


def test_tagged_noise_reads_pipeline_specs_with_rate_lists_and_p():
    from textae.noise.labels import TaggedNoise

    noise = TaggedNoise([{"name": "replace_words", "rate": [0.3, 0.6], "p": 0.5}, {"name": "homoglyphs", "rate": 0.3}], vocabulary=["river"])
    outs = [noise(TEXTS[0], seed) for seed in range(20)]
    assert outs[3] == noise(TEXTS[0], 3)  # seeded
    assert all(len(text) == len(tags) for text, tags in outs)
    replaced = [REPLACED in tags for _, tags in outs]
    assert any(replaced) and not all(replaced)  # p: only some sentences get words replaced
    with pytest.raises(ValueError, match="unknown tagged noise step 'smear' \\(step 1\\)"):
        TaggedNoise([{"name": "homoglyphs", "rate": 0.1}, {"name": "smear", "rate": 0.1}])
    with pytest.raises(ValueError, match="noise 'replace_words' \\(step 0\\): p, the probability"):
        TaggedNoise([{"name": "replace_words", "rate": 0.1, "p": 2}], vocabulary=["a"])
    with pytest.raises(ValueError, match="needs a vocabulary"):
        TaggedNoise([{"name": "replace_words", "rate": 0.1}])
