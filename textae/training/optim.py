"""The optimizer of a run: AdamW over the trainable parameters, no weight decay on biases and norms."""

from __future__ import annotations

import torch


def _param_groups(model, weight_decay: float):
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if param.dim() < 2 or "norm" in name.lower() else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]



def make_optimizer(model, t) -> torch.optim.AdamW:
    """AdamW over the trainable parameters; ``train.adamw_impl`` picks torch's fused, foreach or
    single-tensor kernel ("auto": fused where torch has it for these parameters, else foreach)."""
    impl = t.adamw_impl
    if impl not in ("auto", "fused", "foreach", "single"):
        raise ValueError(f"train.adamw_impl must be 'auto', 'fused', 'foreach' or 'single', got {impl!r}")
    if impl == "auto":
        impl = "fused" if _fused_adamw_supported(model) else "foreach"
    kernels = {"fused": {"fused": True}, "foreach": {"foreach": True}, "single": {"foreach": False}}
    return torch.optim.AdamW(_param_groups(model, t.weight_decay), lr=t.learning_rate, betas=(0.9, t.adam_beta2), **kernels[impl])



def _fused_adamw_supported(model) -> bool:
    params = [p for p in model.parameters() if p.requires_grad]
    return bool(params) and all(p.dtype in (torch.float32, torch.bfloat16, torch.float16) and p.device.type in ("cpu", "cuda") for p in params)

