import pytest

from textae.noise import NOISES, TEXT_NOISES, TOKEN_NOISES, NoisePipeline, example_seed, strip_inserted

SPECS = [
    {"name": "delete_tokens", "rate": 0.3},
    {"name": "insert_punctuation", "rate": 0.2, "where": "chars"},
    {"name": "mask_tokens", "rate": 0.2},
    {"name": "homoglyphs", "rate": 0.1},
]


def test_specs_split_by_level_in_order_with_tokenizer_context():
    pipe = NoisePipeline(SPECS, mask_id=4, vocab_size=100, special_ids=(0, 1, 2, 3, 4))
    assert [n for n, _ in pipe.text_steps] == ["insert_punctuation", "homoglyphs"]
    assert [n for n, _ in pipe.token_steps] == ["delete_tokens", "mask_tokens"]
    assert pipe.token_steps[1][1] == {"rate": 0.2, "mask_id": 4}  # context fills only what a step takes
    assert set(NOISES) == set(TEXT_NOISES) | set(TOKEN_NOISES) and not set(TEXT_NOISES) & set(TOKEN_NOISES)
    assert pipe and not NoisePipeline([])


def test_seeded_per_example_fresh_per_epoch():
    pipe = NoisePipeline(SPECS, mask_id=4)
    text, ids = "the quick brown fox jumps over the lazy dog", list(range(10, 40))
    seed = example_seed(1234, 0, 5)
    assert pipe.text(text, seed) == pipe.text(text, seed)
    assert pipe.tokens(ids, seed) == pipe.tokens(ids, seed)
    epochs = {pipe.text(text, example_seed(1234, e, 5)) for e in range(10)}
    assert len(epochs) > 7
    assert len({tuple(pipe.tokens(ids, example_seed(1234, 0, i))) for i in range(10)}) > 7


def test_example_seed_is_a_stable_hash():
    # pinned: a change here changes every corruption of every run
    assert example_seed(0, 0, 0) == 9044811311333822937
    assert 0 <= example_seed(-1, 10**30, 3) < 2**63
    assert len({example_seed(0, e, i) for e in range(20) for i in range(20)}) == 400
    assert example_seed(0, 1, 0) != example_seed(0, 0, 1) != example_seed(1, 0, 0)


def test_rate_zero_pipeline_is_identity_and_token_context_is_used():
    zero = NoisePipeline([{"name": n, "rate": 0.0} for n in NOISES], mask_id=4, vocab_size=50)
    assert zero.text("Hello, 世界 🚀", 7) == "Hello, 世界 🚀"
    assert zero.tokens([5, 6, 7], 7) == [5, 6, 7]
    full = NoisePipeline([{"name": "replace_tokens", "rate": 1.0}], vocab_size=8, special_ids=(0, 1, 2, 3, 4))
    for i in range(20):
        assert all(o not in (0, 1, 2, 3, 4, t) for o, t in zip(full.tokens([5, 6, 7], i), [5, 6, 7]))
    masked = NoisePipeline([{"name": "mask_tokens", "rate": 1.0, "mask_id": 9}], mask_id=4)
    assert masked.tokens([5, 6], 0) == [9, 9]  # the spec wins over the context


def test_text_steps_keep_the_insertion_invariant():
    pipe = NoisePipeline([
        {"name": "insert_punctuation", "rate": 0.5, "lang": "zh", "where": "chars"},
        {"name": "insert_spaces", "rate": 0.5, "lang": "zh"},
    ])
    for i in range(50):
        assert strip_inserted(pipe.text("今天天气很好", example_seed(0, 0, i)), "zh") == "今天天气很好"


def test_errors_name_the_unknown_noise_or_option():
    with pytest.raises(ValueError, match=r"unknown noise 'typos'.*keyboard_typos"):
        NoisePipeline([{"name": "typos", "rate": 0.1}])
    with pytest.raises(ValueError, match=r"noise 'delete_tokens' \(step 1\) has no option 'ratio'"):
        NoisePipeline([{"name": "mask_tokens", "rate": 0.1, "mask_id": 4}, {"name": "delete_tokens", "ratio": 0.1}])
    with pytest.raises(ValueError, match=r"'mask_tokens' \(step 0\) needs option 'mask_id'"):
        NoisePipeline([{"name": "mask_tokens", "rate": 0.1}])
    with pytest.raises(ValueError, match=r"'insert_emoji' \(step 0\).*rate must be"):
        NoisePipeline([{"name": "insert_emoji", "rate": 1.5}])
    with pytest.raises(ValueError, match=r"'insert_emoji' \(step 0\).*'klingon'"):
        NoisePipeline([{"name": "insert_emoji", "rate": 0.1, "lang": "klingon"}])
    with pytest.raises(ValueError, match="'name'"):
        NoisePipeline([{"rate": 0.1}])


def test_a_list_of_rates_draws_one_per_example_and_p_skips_the_step():
    import random

    from textae.noise import keyboard_typos

    text = "the quick brown fox"
    both = NoisePipeline([{"name": "keyboard_typos", "rate": [0.0, 1.0]}])
    outs = [both.text(text, example_seed(0, 0, i)) for i in range(40)]
    letters = [i for i, ch in enumerate(text) if ch.isalnum()]
    # each example met one of the two rates: untouched, or every letter moved to a neighbouring key
    assert all(o == text or all(o[i] != text[i] for i in letters) for o in outs)
    assert text in outs and any(o != text for o in outs)
    never = NoisePipeline([{"name": "keyboard_typos", "rate": 1.0, "p": 0.0}])
    assert all(never.text(text, example_seed(0, 0, i)) == text for i in range(20))
    half = NoisePipeline([{"name": "keyboard_typos", "rate": 1.0, "p": 0.5}])
    touched = sum(half.text(text, example_seed(0, 0, i)) != text for i in range(400))
    assert 150 < touched < 250
    # a step with one rate and no p draws exactly as it always did
    plain = NoisePipeline([{"name": "keyboard_typos", "rate": 0.3}, {"name": "keyboard_typos", "rate": 0.3, "p": 1.0}])
    from textae.noise.pipeline import _mix

    seed = example_seed(0, 0, 7)
    once = keyboard_typos(text, 0.3, rng=random.Random(_mix(seed, 0, 0)))
    assert plain.text(text, seed) == keyboard_typos(once, 0.3, rng=random.Random(_mix(seed, 0, 1)))
    assert "'rate': [0.0, 1.0]" in repr(both) and "'p': 0.5" in repr(half)


def test_bad_rate_lists_and_p_are_named():
    with pytest.raises(ValueError, match=r"'keyboard_typos' \(step 0\).*rate must be"):
        NoisePipeline([{"name": "keyboard_typos", "rate": [0.1, 1.5]}])
    with pytest.raises(ValueError, match=r"'keyboard_typos' \(step 0\): a list of rates needs at least one"):
        NoisePipeline([{"name": "keyboard_typos", "rate": []}])
    with pytest.raises(ValueError, match=r"'delete_tokens' \(step 0\): p, the probability.*1.2"):
        NoisePipeline([{"name": "delete_tokens", "rate": 0.1, "p": 1.2}])
