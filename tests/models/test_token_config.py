"""textae.models.token_config: the token fields every config takes from one class."""

from __future__ import annotations

from textae.models import TextElectraConfig, TextMLMConfig
from textae.models.configs import TextAEBaseConfig
from textae.models.token_config import TextTokenConfig

TOKEN_FIELDS = {"vocab_size", "max_seq_length", "pad_token_id", "unk_token_id", "bos_token_id", "eos_token_id", "mask_token_id", "initializer_range"}


def test_every_config_takes_the_token_fields_from_one_place():
    assert set(TextTokenConfig.__annotations__) == TOKEN_FIELDS
    for cls in (TextAEBaseConfig, TextElectraConfig, TextMLMConfig):
        assert issubclass(cls, TextTokenConfig) and not TOKEN_FIELDS & set(cls.__dict__.get("__annotations__", {}))
        config = cls(vocab_size=77, mask_token_id=9)
        assert (config.vocab_size, config.mask_token_id, config.pad_token_id, config.max_seq_length) == (77, 9, 0, 64)
