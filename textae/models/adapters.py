"""Parameter-efficient fine-tuning of an autoencoder's pretrained backbones.

``model.lora: {r, alpha, dropout, target_modules, side}`` puts peft's LoRA layers into the encoder,
the decoder or both (``side``: "encoder", "decoder", "both"); that backbone's own weights are then
frozen and only the low-rank updates train. ``model.freeze_backbones: true`` freezes both
backbones' own weights (LoRA updates still train), so that only what textae adds trains: the latent
heads, the injection, label embeddings, and the adapters (as LatentOps does).

The adapters are part of the model: built from the config at ``__init__``, saved in its safetensors
and loaded back by ``from_pretrained``. Pretrained backbone weights load into the wrapped layers
(:func:`fit_to_adapters` maps ``x.weight`` onto ``x.base_layer.weight``).
"""

from __future__ import annotations

from torch import nn

LORA_SIDES = ("encoder", "decoder", "both")
LORA_KEYS = {"r", "alpha", "dropout", "target_modules", "side"}
# the attention projections of architectures peft has no default for
EXTRA_TARGETS = {"distilbert": ["q_lin", "v_lin"], "modernbert": ["Wqkv"]}


def backbones(model) -> dict[str, nn.Module]:
    """The pretrained-sized parts of an autoencoder: its encoder's and its decoder's HF models."""
    return {"encoder": model.encoder.model, "decoder": model.decoder.lm}


def check_lora(lora: dict | None) -> dict | None:
    """The ``model.lora`` settings with their defaults, or a ValueError naming what is wrong."""
    if not lora:
        return None
    unknown = set(lora) - LORA_KEYS
    if unknown:
        raise ValueError(f"model.lora has unknown keys {sorted(unknown)}; known: {sorted(LORA_KEYS)}")
    settings = {"r": 8, "alpha": 16, "dropout": 0.0, "target_modules": None, "side": "both", **lora}
    if settings["side"] not in LORA_SIDES:
        raise ValueError(f"model.lora.side must be one of {LORA_SIDES}, got {settings['side']!r}")
    if not isinstance(settings["r"], int) or settings["r"] < 1:
        raise ValueError(f"model.lora.r must be a positive integer, got {settings['r']!r}")
    return settings


def apply_adapters(model, lora: dict | None, freeze_backbones: bool = False) -> None:
    """Injects LoRA into the chosen backbones and freezes what the settings freeze (see the module doc)."""
    settings = check_lora(lora)
    parts = backbones(model)
    if settings is not None:
        from peft import LoraConfig, inject_adapter_in_model

        sides = ("encoder", "decoder") if settings["side"] == "both" else (settings["side"],)
        for side in sides:
            targets = settings["target_modules"] or _default_targets(parts[side])
            # GPT-2's projections are Conv1D layers, which store the weight transposed
            transposed = parts[side].config.model_type == "gpt2"
            config = LoraConfig(r=settings["r"], lora_alpha=settings["alpha"], lora_dropout=settings["dropout"], target_modules=targets, fan_in_fan_out=transposed)
            inject_adapter_in_model(config, parts[side])
    freeze_as_configured(model, lora, freeze_backbones)


def freeze_as_configured(model, lora: dict | None, freeze_backbones: bool = False) -> None:
    """requires_grad off for the own weights of every backbone that has adapters or is frozen (again
    after loading: transformers' loader makes fresh parameters)."""
    settings = check_lora(lora)
    adapted = () if settings is None else ("encoder", "decoder") if settings["side"] == "both" else (settings["side"],)
    for side, part in backbones(model).items():
        if freeze_backbones or side in adapted:
            for name, param in part.named_parameters():
                param.requires_grad_("lora_" in name)


def _default_targets(backbone: nn.Module) -> list[str]:
    """peft's usual LoRA targets for this architecture (the attention projections)."""
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING

    model_type = backbone.config.model_type
    targets = TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING.get(model_type) or EXTRA_TARGETS.get(model_type)
    if not targets:
        raise ValueError(f"no default LoRA target modules for a {model_type} model; set model.lora.target_modules (e.g. the attention projections' names)")
    return list(targets)


def fit_to_adapters(weights: dict, module: nn.Module) -> dict:
    """Pretrained ``weights`` renamed to fit ``module`` once LoRA wraps some of its layers."""
    names = set(module.state_dict())
    fitted = {}
    for key, value in weights.items():
        if key not in names:
            stem, _, leaf = key.rpartition(".")
            wrapped = f"{stem}.base_layer.{leaf}"
            key = wrapped if wrapped in names else key
        fitted[key] = value
    return fitted


def trainable_parameters(model) -> tuple[int, int]:
    """(trainable, all) parameter counts."""
    params = list(model.parameters())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)
