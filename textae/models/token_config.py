"""The token fields every textae config carries: the vocabulary, the special ids, the length limit
and the weight-init scale. The autoencoder configs (:class:`~textae.models.configs.TextAEBaseConfig`)
and the encoder-only ones (:class:`~textae.models.encoder_only.TextEncoderOnlyConfig`) both build on it."""

from __future__ import annotations

from transformers import PretrainedConfig


class TextTokenConfig(PretrainedConfig):
    """Args:
    vocab_size: the tokenizer's vocabulary size.
    max_seq_length: token limit of a sentence (longer ones are truncated).
    pad_token_id / unk_token_id / bos_token_id / eos_token_id / mask_token_id: the tokenizer's ids.
    initializer_range: standard deviation of the initial weights.
    """

    model_type = "textae_tokens"

    vocab_size: int = 1000
    max_seq_length: int = 64
    pad_token_id: int | None = 0
    unk_token_id: int | None = 1
    bos_token_id: int | None = 2
    eos_token_id: int | None = 3
    mask_token_id: int | None = 4
    initializer_range: float = 0.02
