"""The denoising autoencoder: reconstruct the clean sentence from a corrupted one.

The corruption is the config's ``noise`` (TSDAE's deletion of 60% of the tokens by default), applied
afresh each epoch by the collator, plus the optional continuous noises of the core (embedding white
noise, standard / spatial dropout of the encoder states). With a pretrained encoder and a decoder
initialised from the same checkpoint this is TSDAE (Wang et al. 2021); a ``consistency`` loss weight
> 0 adds 1 − cos(z_noisy, sg[z_clean]), which pulls the embedding of the corrupted sentence toward
that of the clean one.
"""

from ..noise import TSDAE_DELETION_RATE
from .base import TextAutoencoderConfig, TextAutoencoderModel

TSDAE_NOISE = [{"name": "delete_tokens", "rate": TSDAE_DELETION_RATE}]


class TextDAEConfig(TextAutoencoderConfig):
    model_type = "textae_dae"
    default_bottleneck = "identity"

    def __post_init__(self, **kwargs):
        if self.noise is None:
            self.noise = [dict(step) for step in TSDAE_NOISE]
        super().__post_init__(**kwargs)


class TextDAE(TextAutoencoderModel):
    """Denoising sentence autoencoder: ``encode(texts, batch_size, normalize) → [N, d]`` embeddings that
    stay put under noisy input; ``reconstruct`` gives back clean text."""

    config_class = TextDAEConfig
