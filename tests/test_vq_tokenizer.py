"""VQTextTokenizer: a tokenizer-shaped view of a TextVQVAE; what it refuses, its sizes, its loading paths."""

from __future__ import annotations

import math

import datasets
import pytest

from tests.conftest import tiny_model
from textae import VQTextTokenizer

OPTIONS = {"codebook_size": 8, "heads": 2, "downsample": 2}


@pytest.fixture(scope="module")
def vq(tokenizer):
    return tiny_model("vq", tokenizer, bottleneck_options=OPTIONS).eval()


def test_only_a_vq_model_with_a_text_tokenizer_is_accepted(tokenizer, vq):
    with pytest.raises(TypeError, match="VQTextTokenizer needs a TextVQVAE, got TextAE"):
        VQTextTokenizer(tiny_model("ae", tokenizer))
    bare = tiny_model("vq", tokenizer, bottleneck_options=OPTIONS)
    bare.tokenizer = None
    with pytest.raises(ValueError, match="no text tokenizer attached"):
        VQTextTokenizer(bare)


def test_the_sizes_come_from_the_model(vq):
    tok = VQTextTokenizer(vq)
    assert tok.codes_per_position == vq.codes_per_position == 2
    assert tok.vocab_size == tok.codes_per_position * 8 == vq.code_vocab_size
    assert tok.downsample == 2 and tok.bits_per_code == math.log2(8)
    assert tok.text_tokenizer is vq.tokenizer


def test_one_string_is_one_sentence_and_call_is_encode(vq, corpus):
    tok = VQTextTokenizer(vq)
    one = tok.encode(corpus[0])
    assert len(one) == 1 and one == tok.encode([corpus[0]]) == tok(corpus[0])
    assert all(0 <= c < tok.vocab_size for c in one[0]) and len(one[0]) % tok.codes_per_position == 0


def test_decode_of_one_flat_sequence_is_refused(vq, corpus):
    tok = VQTextTokenizer(vq)
    codes = tok.encode(corpus[:2])
    with pytest.raises(TypeError, match=r"list of code sequences \(list\[list\[int\]\]\)"):
        tok.decode(codes[0])
    assert len(tok.decode(codes, max_new_tokens=8)) == 2  # an untrained decoder: keep generation short


def test_from_pretrained_reads_a_run_folder_holding_model(vq, corpus, tmp_path):
    tok = VQTextTokenizer(vq)
    assert tok.save_pretrained(tmp_path / "run" / "model") == tmp_path / "run" / "model"
    from_run = VQTextTokenizer.from_pretrained(tmp_path / "run")
    from_model = VQTextTokenizer.from_pretrained(tmp_path / "run" / "model")
    texts = list(corpus[:4])
    assert from_run.encode(texts) == from_model.encode(texts) == tok.encode(texts)


def test_map_leaves_empty_and_missing_texts_with_no_codes(vq, corpus):
    tok = VQTextTokenizer(vq)
    texts = [corpus[0], "   ", None, corpus[1]]
    mapped = tok.map(datasets.Dataset.from_dict({"sentence": texts}), text_column="sentence", column="vq", batch_size=3)
    expected = tok.encode([corpus[0], corpus[1]])
    assert mapped["vq"] == [expected[0], [], [], expected[1]]
    assert mapped["sentence"] == texts
