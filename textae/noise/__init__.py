"""Input corruption: the "corrupt" of ``x → corrupt → encode → bottleneck → decode → x̂``.

Plain, seeded functions over data (a ``rate`` in [0, 1], an explicit ``rng``; same seed, same
output; rate 0 is the identity), plus the continuous noises used inside a model:

- token level, on ids (:mod:`.tokens`): ``mask_tokens``, ``delete_tokens``, ``replace_tokens``, ``mask_spans``;
- text level, on strings (:mod:`.text`, :mod:`.chars`): insertion of punctuation / emoji / spaces,
  repeated punctuation, keyboard typos, swapped / deleted / doubled characters, homoglyphs;
- continuous (:mod:`.continuous`): ``embedding_white_noise`` on [B, T, H] embeddings,
  ``StandardDropout`` / ``SpatialDropout`` on [B, T, D] latents;
- composition (:mod:`.pipeline`): ``NoisePipeline`` from specs, the ``NOISES`` registry, ``example_seed``.
"""

from .chars import HOMOGLYPHS, QWERTY_NEIGHBOURS, delete_chars, double_chars, homoglyphs, keyboard_typos, swap_chars
from .continuous import SpatialDropout, StandardDropout, embedding_white_noise
from .pipeline import NOISES, TEXT_NOISES, TOKEN_NOISES, NoisePipeline, example_seed
from .text import (
    EMOJI,
    INSERTABLE_CHARACTERS,
    PUNCTUATION,
    insert_emoji,
    insert_punctuation,
    insert_spaces,
    repeat_punctuation,
    strip_inserted,
)
from .tokens import TSDAE_DELETION_RATE, delete_tokens, mask_spans, mask_tokens, replace_tokens

__all__ = [
    "EMOJI",
    "HOMOGLYPHS",
    "INSERTABLE_CHARACTERS",
    "NOISES",
    "NoisePipeline",
    "PUNCTUATION",
    "QWERTY_NEIGHBOURS",
    "SpatialDropout",
    "StandardDropout",
    "TEXT_NOISES",
    "TOKEN_NOISES",
    "TSDAE_DELETION_RATE",
    "delete_chars",
    "delete_tokens",
    "double_chars",
    "embedding_white_noise",
    "example_seed",
    "homoglyphs",
    "insert_emoji",
    "insert_punctuation",
    "insert_spaces",
    "keyboard_typos",
    "mask_spans",
    "mask_tokens",
    "repeat_punctuation",
    "replace_tokens",
    "strip_inserted",
    "swap_chars",
]
