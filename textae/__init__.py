"""textae: Transformer text autoencoders on the Hugging Face stack.

Importing textae registers every model family with ``AutoConfig`` / ``AutoModel``.
"""

from .models import (
    FAMILIES,
    TextAE,
    TextAEConfig,
    TextAEOutput,
    TextAutoencoderConfig,
    TextCVAE,
    TextCVAEConfig,
    TextDAE,
    TextDAEConfig,
    TextElectra,
    TextElectraConfig,
    TextAutoencoderModel,
    TextLM,
    TextLMConfig,
    TextLMOutput,
    TextVAE,
    TextVAEConfig,
    TextVQVAE,
    TextVQVAEConfig,
    register_families,
)

register_families()

from .export import export_sentence_transformers  # noqa: E402  (needs the families registered)
from .vq_tokenizer import VQTextTokenizer  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "FAMILIES",
    "TextAE",
    "TextAEConfig",
    "TextAEOutput",
    "TextAutoencoderConfig",
    "TextAutoencoderModel",
    "TextCVAE",
    "TextCVAEConfig",
    "TextDAE",
    "TextDAEConfig",
    "TextElectra",
    "TextElectraConfig",
    "TextLM",
    "TextLMConfig",
    "TextLMOutput",
    "TextVAE",
    "TextVAEConfig",
    "TextVQVAE",
    "TextVQVAEConfig",
    "VQTextTokenizer",
    "__version__",
    "export_sentence_transformers",
]
