"""The sentence autoencoder: identity bottleneck, reconstruct x."""

from .base import TextAutoencoderConfig, TextAutoencoderModel


class TextAEConfig(TextAutoencoderConfig):
    model_type = "textae_ae"
    default_bottleneck = "identity"


class TextAE(TextAutoencoderModel):
    """Sentence autoencoder: ``encode(texts) → [N, d]``, ``decode(z) → texts``, ``reconstruct``."""

    config_class = TextAEConfig
