"""The Gaussian bottleneck of the text VAE (Kingma & Welling 2014; Bowman et al. 2016).

q(z|x) = N(μ, diag σ²) with μ and log σ² read off the pooled encoder state; z = μ + σ·ε while
training (reparameterised), μ at evaluation unless a sample is asked for; the KL to N(0, I) is
analytic per dimension. Free bits (Kingma et al. 2016; Optimus's λ): a dimension whose batch-mean KL
is below ``free_bits`` contributes the constant ``free_bits`` instead, so no gradient pushes it
further down; above the threshold its KL is untouched.
"""

from __future__ import annotations

import torch
from torch import nn

from .bottleneck import Bottleneck, BottleneckOutput, register_bottleneck
from .encoder import EncoderStates


def gaussian_kl(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, σ²) ‖ N(0, 1)) per dimension, [B, d] → [B, d], in nats."""
    return 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar)


def free_bits_kl(kl_per_dim: torch.Tensor, free_bits: float) -> torch.Tensor:
    """Σ_d max(λ, mean_B KL_d): [B, d] → scalar; below λ the dimension adds a constant (no gradient)."""
    per_dim = kl_per_dim.mean(0)
    if free_bits <= 0:
        return per_dim.sum()
    floor = torch.full_like(per_dim, free_bits)
    return torch.where(per_dim > free_bits, per_dim, floor).sum()


class GaussianBottleneck(Bottleneck):
    """Options: ``free_bits`` (λ, nats per dimension), ``logvar_min`` / ``logvar_max`` (clamp)."""

    loss_terms = ("kl",)

    def __init__(self, hidden_size: int, latent_dim: int, free_bits: float = 0.0, logvar_min: float = -10.0, logvar_max: float = 4.0):
        super().__init__(hidden_size, latent_dim)
        self.to_mean = nn.Linear(hidden_size, latent_dim)
        self.to_logvar = nn.Linear(hidden_size, latent_dim)
        self.free_bits = free_bits
        self.logvar_range = (logvar_min, logvar_max)

    def embedding_head(self) -> nn.Linear:
        # the posterior mean μ(x), what encode returns unless a sample is asked for
        return self.to_mean

    def forward(self, encoded: EncoderStates, sample: bool | None = None) -> BottleneckOutput:
        pooled = encoded.pooled.float()  # the heads and the KL in fp32: exp(logvar) is fragile under bf16
        with torch.autocast(device_type=pooled.device.type, enabled=False):
            mean = self.to_mean(pooled)
            logvar = self.to_logvar(pooled).clamp(*self.logvar_range)
            draw = self.training if sample is None else sample
            latent = mean + torch.randn_like(mean) * (0.5 * logvar).exp() if draw else mean
            kl = gaussian_kl(mean, logvar)
        stats = {
            "kl_per_sentence": kl.sum(1).mean().detach(),
            "posterior_std": (0.5 * logvar).exp().mean().detach(),
            "mean_norm": mean.norm(dim=-1).mean().detach(),
        }
        return BottleneckOutput(latent=latent, mean=mean, logvar=logvar, losses={"kl": free_bits_kl(kl, self.free_bits)}, stats=stats)


register_bottleneck("gaussian", GaussianBottleneck)
