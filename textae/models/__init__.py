"""Model families. Each is a config class and a model class; :data:`FAMILIES` maps the recipe's
``model.family`` to them, and :func:`register_families` registers them with the Auto classes."""

from transformers import AutoConfig, AutoModel

from .ae import TextAE, TextAEConfig
from .cvae import TextCVAE, TextCVAEConfig
from .dae import TextDAE, TextDAEConfig
from .electra import TextElectra, TextElectraConfig, TextElectraOutput
from .base import TextAEOutput, TextAutoencoderConfig, TextAutoencoderModel, TextLMOutput
from .lm import TextLM, TextLMConfig
from .mlm import TextMLM, TextMLMConfig, TextMLMOutput
from .tagger import TextTagger, TextTaggerConfig, TextTaggerOutput
from .vae import TextVAE, TextVAEConfig
from .vq import TextVQVAE, TextVQVAEConfig

FAMILIES: dict[str, tuple[type, type]] = {
    "ae": (TextAEConfig, TextAE),
    "cvae": (TextCVAEConfig, TextCVAE),
    "dae": (TextDAEConfig, TextDAE),
    "electra": (TextElectraConfig, TextElectra),
    "lm": (TextLMConfig, TextLM),
    "mlm": (TextMLMConfig, TextMLM),
    "vae": (TextVAEConfig, TextVAE),
    "vq": (TextVQVAEConfig, TextVQVAE),
}


def register_family(name: str, config_cls: type, model_cls: type) -> None:
    """Makes ``model.family: name`` build ``model_cls`` from ``config_cls`` and lets
    ``AutoModel.from_pretrained`` load its saved folders: the one line a new family adds."""
    known = FAMILIES.get(name)
    if known is not None and known != (config_cls, model_cls):
        raise ValueError(f"model family {name!r} is already registered as {known[1].__name__}")
    FAMILIES[name] = (config_cls, model_cls)
    _register_auto(config_cls, model_cls)


def _register_auto(config_cls: type, model_cls: type) -> None:
    try:
        AutoConfig.register(config_cls.model_type, config_cls)
        AutoModel.register(config_cls, model_cls)
    except ValueError:  # already registered (re-import)
        pass


register_family("tagger", TextTaggerConfig, TextTagger)


def register_families() -> None:
    for config_cls, model_cls in FAMILIES.values():
        _register_auto(config_cls, model_cls)


def family_classes(family: str) -> tuple[type, type]:
    if family not in FAMILIES:
        raise ValueError(f"unknown model family {family!r}; known: {sorted(FAMILIES)}")
    return FAMILIES[family]


__all__ = [
    "FAMILIES",
    "TextAE",
    "TextAEConfig",
    "TextAEOutput",
    "TextCVAE",
    "TextCVAEConfig",
    "TextDAE",
    "TextDAEConfig",
    "TextElectra",
    "TextElectraConfig",
    "TextElectraOutput",
    "TextAutoencoderConfig",
    "TextAutoencoderModel",
    "TextLM",
    "TextLMConfig",
    "TextLMOutput",
    "TextMLM",
    "TextMLMConfig",
    "TextMLMOutput",
    "TextTagger",
    "TextTaggerConfig",
    "TextTaggerOutput",
    "TextVAE",
    "TextVAEConfig",
    "TextVQVAE",
    "TextVQVAEConfig",
    "family_classes",
    "register_families",
    "register_family",
]
