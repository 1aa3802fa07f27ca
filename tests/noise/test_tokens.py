import random

import pytest

from textae.noise import TSDAE_DELETION_RATE, delete_tokens, mask_spans, mask_tokens, replace_tokens

IDS = list(range(10, 40))
SPECIALS = (0, 1, 2, 3, 4)
# every token noise with the options it needs: name → f(ids, rate, rng)
NOISES = {
    "mask_tokens": lambda ids, rate, rng: mask_tokens(ids, rate, 4, rng),
    "delete_tokens": delete_tokens,
    "replace_tokens": lambda ids, rate, rng: replace_tokens(ids, rate, 100, rng, exclude=SPECIALS),
    "mask_spans": lambda ids, rate, rng: mask_spans(ids, rate, 4, rng),
}


@pytest.mark.parametrize("name", NOISES)
def test_seeded_rate_zero_identity_and_input_untouched(name):
    noise = NOISES[name]
    ids = list(IDS)
    assert noise(ids, 0.3, 7) == noise(ids, 0.3, 7) == noise(ids, 0.3, random.Random(7))
    assert len({tuple(noise(ids, 0.3, s)) for s in range(20)}) > 10
    assert all(noise(ids, 0.0, s) == IDS for s in range(20))
    assert ids == IDS
    assert noise([], 0.5, 0) == []


@pytest.mark.parametrize("name", NOISES)
def test_bad_rate_or_rng_fails_loudly(name):
    with pytest.raises(ValueError, match="rate"):
        NOISES[name](IDS, 1.5, 0)
    with pytest.raises(TypeError, match="rng"):
        NOISES[name](IDS, 0.5, None)


def test_masking_masks_only_with_mask_id_and_everything_at_rate_one():
    assert mask_tokens(IDS, 1.0, 4, 0) == [4] * len(IDS)
    out = mask_tokens(IDS, 0.5, 4, 0)
    assert all(o == t or o == 4 for o, t in zip(out, IDS))
    masked = sum(o == 4 for s in range(200) for o in mask_tokens(IDS, 0.15, 4, s))
    assert masked / (200 * len(IDS)) == pytest.approx(0.15, abs=0.015)


@pytest.mark.parametrize("rate", [0.0, 0.3, TSDAE_DELETION_RATE, 0.9, 0.99, 1.0])
def test_deletion_keeps_at_least_one_token_in_order(rate):
    for n in (1, 2, 5, 30):
        ids = IDS[:n]
        for seed in range(50):
            out = delete_tokens(ids, rate, seed)
            assert 1 <= len(out) <= n
            it = iter(ids)
            assert all(t in it for t in out)  # a subsequence: order kept, nothing new
            if rate == 1.0:
                assert len(out) == 1


def test_deletion_rate_and_tsdae_preset():
    assert TSDAE_DELETION_RATE == 0.6
    kept = sum(len(delete_tokens(IDS, TSDAE_DELETION_RATE, s)) for s in range(300))
    assert 1 - kept / (300 * len(IDS)) == pytest.approx(0.6, abs=0.02)


def test_replacement_never_gives_the_original_or_an_excluded_id():
    ids = IDS + [0, 3]  # specials in the input stay where they are
    for seed in range(100):
        out = replace_tokens(ids, 1.0, 40, seed, exclude=SPECIALS)
        assert out[-2:] == [0, 3]
        for o, t in zip(out[:-2], IDS):
            assert o != t and o not in SPECIALS and 0 <= o < 40
    # with 2 allowed ids, the only replacement of one is the other
    assert replace_tokens([5, 6, 5], 1.0, 7, 0, exclude=SPECIALS) == [6, 5, 6]
    with pytest.raises(ValueError, match="at least 2 ids"):
        replace_tokens([5], 0.5, 6, 0, exclude=SPECIALS)


def test_span_masking_hits_the_rate_on_average():
    for rate in (0.15, 0.3, 0.5):
        for n in (7, 30):
            ids = list(range(100, 100 + n))
            counts = [sum(o == 4 for o in mask_spans(ids, rate, 4, s)) for s in range(400)]
            # the count is rate·n rounded at random: one of the two nearest ints, right on average
            assert set(counts) <= {int(rate * n), int(rate * n) + 1}
            assert sum(counts) / (400 * n) == pytest.approx(rate, abs=0.01)
    assert mask_spans(IDS, 1.0, 4, 0) == [4] * len(IDS)
    out = mask_spans(IDS, 0.5, 4, 0)
    assert len(out) == len(IDS) and all(o == t or o == 4 for o, t in zip(out, IDS))


def _runs(out: list[int]) -> int:
    return sum(1 for i, o in enumerate(out) if o == 4 and (i == 0 or out[i - 1] != 4))


def test_span_masking_masks_contiguous_spans():
    ids = list(range(100, 200))
    long_spans = sum(_runs(mask_spans(ids, 0.15, 4, s, mean_span=3)) for s in range(100))
    single = sum(_runs(mask_spans(ids, 0.15, 4, s, mean_span=1)) for s in range(100))
    # 15 masked tokens per sentence: about 15 runs with spans of 1, about a third as many with spans of mean 3
    assert single > 12 * 100
    assert long_spans < 0.5 * single
