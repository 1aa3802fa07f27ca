"""The sentence autoencoder: identity bottleneck, reconstruct x."""

from .base import TextAutoencoderConfig, TextAutoencoderModel
from .dae import ConsistencyMixin


class TextAEConfig(TextAutoencoderConfig):
    model_type = "textae_ae"
    default_bottleneck = "identity"


class TextAE(ConsistencyMixin, TextAutoencoderModel):
    """Sentence autoencoder: ``encode(texts) → [N, d]``, ``decode(z) → texts``, ``reconstruct``."""

    config_class = TextAEConfig
