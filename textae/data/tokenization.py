"""Tokenizers: an existing one from a local folder, or one trained on the corpus with ``tokenizers``.

Every textae tokenizer has the special tokens the models need, with fixed ids for trained ones:
[PAD]=0, [UNK]=1, [BOS]=2, [EOS]=3, [MASK]=4. A pretrained BERT-style tokenizer maps BOS/EOS to its
[CLS]/[SEP]. The tokenizer is saved beside the model (``save_pretrained``).
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Iterable
from functools import cache

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

logger = logging.getLogger(__name__)

SPECIAL_TOKENS = {"pad_token": "[PAD]", "unk_token": "[UNK]", "bos_token": "[BOS]", "eos_token": "[EOS]", "mask_token": "[MASK]"}
TOKENIZER_KINDS = ("wordlevel", "wordpiece", "bpe")


def train_tokenizer(texts: Iterable[str], kind: str = "wordlevel", vocab_size: int = 10000, lowercase: bool = False) -> PreTrainedTokenizerFast:
    """Trains a fast tokenizer on ``texts``.

    wordlevel: whitespace words (the PTB convention, so token PPL is word PPL); wordpiece / bpe: subwords.

    >>> tok = train_tokenizer(["a b a", "b c"], kind="wordlevel")
    >>> tok.convert_ids_to_tokens(tok("a c")["input_ids"])
    ['a', 'c']
    """
    if kind not in TOKENIZER_KINDS:
        raise ValueError(f"unknown tokenizer kind {kind!r}; choose one of {TOKENIZER_KINDS}")
    specials = list(SPECIAL_TOKENS.values())
    if kind == "wordlevel":
        tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
        tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
        trainer = trainers.WordLevelTrainer(vocab_size=vocab_size, special_tokens=specials)
        tok.decoder = None
    elif kind == "wordpiece":
        tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=specials)
        tok.decoder = decoders.WordPiece(cleanup=False)
    else:
        tok = Tokenizer(models.BPE(unk_token="[UNK]"))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
        tok.decoder = decoders.ByteLevel()
    norms = [normalizers.NFC()] + ([normalizers.Lowercase()] if lowercase else [])
    tok.normalizer = normalizers.Sequence(norms)
    tok.train_from_iterator((t for t in texts if t), trainer=trainer)
    # no "clean-up" of spaces before punctuation: decode gives back the text as tokenized
    return PreTrainedTokenizerFast(tokenizer_object=tok, clean_up_tokenization_spaces=False, **SPECIAL_TOKENS)


def load_tokenizer(path: str) -> PreTrainedTokenizerFast:
    """A local tokenizer folder, with BOS/EOS/MASK ensured (BERT's [CLS]/[SEP] serve as BOS/EOS)."""
    tok = AutoTokenizer.from_pretrained(path)
    if tok.bos_token is None:
        tok.bos_token = tok.cls_token or tok.eos_token
    if tok.eos_token is None:
        tok.eos_token = tok.sep_token or tok.bos_token
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    missing = [name for name in ("bos_token", "eos_token", "pad_token") if getattr(tok, name) is None]
    if missing:
        raise ValueError(f"tokenizer at {path} lacks {missing} and no stand-in exists")
    return tok


def special_ids(tokenizer) -> dict[str, int]:
    """The token ids a textae config records."""
    ids = {
        "pad_token_id": tokenizer.pad_token_id,
        "unk_token_id": tokenizer.unk_token_id if tokenizer.unk_token_id is not None else tokenizer.pad_token_id,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "mask_token_id": tokenizer.mask_token_id if tokenizer.mask_token_id is not None else tokenizer.unk_token_id,
    }
    return ids


class TokenizerPair:
    """The encoder's tokenizer (it reads x) and the decoder's (it writes x); one object twice when a
    model uses one tokenizer. The config records the decoder's ids as the model's token ids (what
    generation uses) and, when the two differ, the encoder's under ``encoder_*``."""

    def __init__(self, encoder, decoder=None):
        self.encoder = encoder
        self.decoder = decoder if decoder is not None else encoder

    @property
    def same(self) -> bool:
        return self.decoder is self.encoder

    def config_ids(self) -> dict[str, int]:
        ids = {"vocab_size": len(self.decoder), **special_ids(self.decoder)}
        if not self.same:
            encoder = special_ids(self.encoder)
            ids.update(
                encoder_vocab_size=len(self.encoder),
                encoder_pad_token_id=encoder["pad_token_id"],
                encoder_unk_token_id=encoder["unk_token_id"],
                encoder_mask_token_id=encoder["mask_token_id"],
            )
        return ids


def encode_texts(tokenizer, texts: list[str], max_length: int, warn: bool = True) -> list[list[int]]:
    """Texts → token ids without special tokens, truncated to ``max_length``.

    A text longer than ``max_length`` tokens keeps its first ``max_length``; with ``warn`` a warning
    says how many were cut (:func:`encode_texts_flagged` tells which).
    """
    ids, flags = encode_texts_flagged(tokenizer, texts, max_length)
    truncated = sum(flags)
    if warn and truncated:
        logger.warning("%d of %d texts were longer than %d tokens and were truncated to it", truncated, len(ids), max_length)
    return ids


def encode_texts_flagged(tokenizer, texts: list[str], max_length: int) -> tuple[list[list[int]], list[bool]]:
    """(token ids truncated to ``max_length``, whether each text was longer)."""
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        raise TypeError(f"texts must be strings; item {bad[0]} is {type(texts[bad[0]]).__name__}")
    if not texts:
        return [], []
    # one token past the limit tells a truncated text from one that fits exactly
    out = tokenizer(list(texts), add_special_tokens=False, truncation=True, max_length=max_length + 1)["input_ids"]
    return [list(x[:max_length]) for x in out], [len(x) > max_length for x in out]


def word_ids_of(tokenizer, texts: list[str], max_length: int) -> list[list[int]]:
    """The word index of each token of each text, as :func:`encode_texts` tokenizes it (no special
    tokens, truncated to ``max_length``). Words are the tokenizer's pre-tokenizer words (BERT: runs
    of letters and digits, each punctuation mark its own), numbered from 0. Needs a fast tokenizer."""
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(f"word ids need a fast (Rust) tokenizer; {type(tokenizer).__name__} is not one")
    if not texts:
        return []
    enc = tokenizer(list(texts), add_special_tokens=False, truncation=True, max_length=max_length)
    return [[-1 if w is None else w for w in enc.word_ids(i)] for i in range(len(texts))]


def encode_with_offsets(tokenizer, texts: list[str], max_length: int) -> tuple[list[list[int]], list[list[tuple[int, int]]]]:
    """(token ids, each token's [start, end) characters in its text) as :func:`encode_texts`
    tokenizes the texts (no special tokens, truncated to ``max_length``). Needs a fast tokenizer."""
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(f"character offsets need a fast (Rust) tokenizer; {type(tokenizer).__name__} is not one")
    if not texts:
        return [], []
    enc = tokenizer(list(texts), add_special_tokens=False, truncation=True, max_length=max_length, return_offsets_mapping=True)
    return [list(x) for x in enc["input_ids"]], [[tuple(o) for o in offsets] for offsets in enc["offset_mapping"]]


def special_template(tokenizer) -> tuple[list[int], list[int]]:
    """The ids a tokenizer puts around a text with ``add_special_tokens=True``: (prefix, suffix).

    ([CLS], [SEP]) for BERT-style tokenizers, ([], []) for the ones textae trains. Pretrained encoders
    read their inputs in this form, and sentence-transformers tokenizes so; textae's encoder input
    follows the same template, which keeps exported embeddings identical.
    """
    probe = "a"
    plain = tokenizer(probe, add_special_tokens=False)["input_ids"]
    full = tokenizer(probe, add_special_tokens=True)["input_ids"]
    for start in range(len(full) - len(plain) + 1):
        if full[start : start + len(plain)] == plain:
            return list(full[:start]), list(full[start + len(plain) :])
    raise ValueError(f"cannot locate the text inside the tokenizer's special-token template {full}")


INVISIBLE_CHARACTERS = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff")


def fold_text(text: str) -> str:
    """The folding of :func:`fold_confusables` on a plain string: NFKC, zero-width characters removed,
    Cyrillic / Greek look-alikes → Latin. For a front end that reads the text before the tokenizer
    does (the spell-corrector of :mod:`textae.data.spelling`); the folded tokenizer then finds
    nothing left to fold."""
    text = unicodedata.normalize("NFKC", text)
    for ch in INVISIBLE_CHARACTERS:
        text = text.replace(ch, "")
    return text.translate(_fold_table())


@cache
def _fold_table() -> dict[int, str]:
    from ..noise.chars import CONFUSABLE_FOLDS

    return str.maketrans(CONFUSABLE_FOLDS)


def fold_confusables(tokenizer) -> PreTrainedTokenizerFast:
    """Puts a normalizer in front of the tokenizer's own: NFKC (full-width forms → ASCII, "Ｏ" → "O"),
    Cyrillic / Greek look-alikes → the Latin letters they imitate, zero-width characters removed.

    It lives inside the tokenizer (tokenizer.json), so whoever loads the saved tokenizer, including
    sentence-transformers from an exported folder, reads text the same way. For Latin-script
    corpora: it would rewrite real Cyrillic or Greek text.

    ``tokenizer`` is changed in place; the one returned is the same backend as a generic
    ``PreTrainedTokenizerFast``, which is what to save: a model-specific class such as transformers
    5's ``BertTokenizer`` rebuilds its own normalizer from its settings when it loads and would drop
    the folding, while the generic class reads tokenizer.json as it is.
    """
    from ..noise.chars import CONFUSABLE_FOLDS

    backend = tokenizer.backend_tokenizer
    steps = [normalizers.NFKC()]
    steps += [normalizers.Replace(ch, "") for ch in INVISIBLE_CHARACTERS]
    steps += [normalizers.Replace(ch, latin) for ch, latin in sorted(CONFUSABLE_FOLDS.items())]
    if backend.normalizer is not None:
        steps.append(backend.normalizer)
    backend.normalizer = normalizers.Sequence(steps)
    specials = {name: getattr(tokenizer, name, None) for name in ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")}
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, model_max_length=tokenizer.model_max_length, **{k: v for k, v in specials.items() if v is not None}
    )
