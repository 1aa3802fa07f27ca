"""The optimizer of a run: AdamW over the trainable parameters, no weight decay on biases and norms."""

from __future__ import annotations

import torch


def _param_groups(model, weight_decay: float, new_learning_rate: float | None = None):
    """Weights decay, biases and norms do not; with ``new_learning_rate``, the parameters outside
    ``model.pretrained_parameter_names`` (what no checkpoint filled) form groups of their own at that rate."""
    pretrained = getattr(model, "pretrained_parameter_names", None)
    if new_learning_rate is not None and pretrained is None:
        raise ValueError("train.new_learning_rate is the rate of the parameters that no pretrained checkpoint filled, and this "
                         "model loaded none (no model.encoder_pretrained / decoder_pretrained): set train.learning_rate instead")
    # (new, decays) → parameters; the backbone's two groups always exist, as they did before the split
    groups: dict[tuple[bool, bool], list] = {(False, True): [], (False, False): []}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        new = new_learning_rate is not None and name not in pretrained
        decays = not (param.dim() < 2 or "norm" in name.lower())
        groups.setdefault((new, decays), []).append(param)
    return [
        {"params": params, "weight_decay": weight_decay if decays else 0.0, **({"lr": new_learning_rate} if new else {})}
        for (new, decays), params in groups.items()
    ]



def make_optimizer(model, t) -> torch.optim.AdamW:
    """AdamW over the trainable parameters; ``train.adamw_impl`` picks torch's fused, foreach or
    single-tensor kernel ("auto": fused where torch has it for these parameters, else foreach)."""
    impl = t.adamw_impl
    if impl not in ("auto", "fused", "foreach", "single"):
        raise ValueError(f"train.adamw_impl must be 'auto', 'fused', 'foreach' or 'single', got {impl!r}")
    if impl == "auto":
        impl = "fused" if _fused_adamw_supported(model) else "foreach"
    kernels = {"fused": {"fused": True}, "foreach": {"foreach": True}, "single": {"foreach": False}}
    return torch.optim.AdamW(_param_groups(model, t.weight_decay, t.new_learning_rate), lr=t.learning_rate, betas=(0.9, t.adam_beta2), **kernels[impl])



def _fused_adamw_supported(model) -> bool:
    params = [p for p in model.parameters() if p.requires_grad]
    return bool(params) and all(p.dtype in (torch.float32, torch.bfloat16, torch.float16) and p.device.type in ("cpu", "cuda") for p in params)

