"""Building blocks shared by every textae family: encoder, bottlenecks, decoder."""

from .bottleneck import BOTTLENECKS, Bottleneck, BottleneckOutput, IdentityBottleneck, build_bottleneck, register_bottleneck
from .decoder import LatentDecoder
from .gaussian import GaussianBottleneck, free_bits_kl, gaussian_kl
from .vq import VQBottleneck, VectorQuantizer
from .encoder import EncoderStates, Pooling, SentenceEncoder

__all__ = [
    "BOTTLENECKS",
    "Bottleneck",
    "BottleneckOutput",
    "EncoderStates",
    "GaussianBottleneck",
    "IdentityBottleneck",
    "LatentDecoder",
    "Pooling",
    "SentenceEncoder",
    "VQBottleneck",
    "VectorQuantizer",
    "build_bottleneck",
    "free_bits_kl",
    "gaussian_kl",
    "register_bottleneck",
]
