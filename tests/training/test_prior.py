"""textae.training.prior: the code corpus a prior LM trains on."""

from __future__ import annotations

from textae.models.vq import CODE_PREFIX
from textae.training.prior import code_words, write_code_corpus


class FakeCodes:
    """encode_codes as a VQ model gives it: one list of code ids per text."""

    def __init__(self):
        self.seen = None

    def encode_codes(self, texts, batch_size):
        self.seen = list(texts)
        return [[len(t), 7, 7][: len(t.split())] for t in texts]


def test_codes_are_prefixed_words():
    assert code_words([3, 0, 12]) == f"{CODE_PREFIX}3 {CODE_PREFIX}0 {CODE_PREFIX}12"


def test_the_corpus_skips_blank_texts_and_returns_the_longest_line(tmp_path):
    model = FakeCodes()
    longest = write_code_corpus(model, ["a b c", "  ", "d", None, " e f "], tmp_path / "codes" / "train.txt")
    assert model.seen == ["a b c", "d", "e f"]  # stripped; blanks and non-strings dropped
    lines = (tmp_path / "codes" / "train.txt").read_text().splitlines()
    assert lines == [code_words([5, 7, 7]), code_words([1]), code_words([3, 7])] and longest == 3
