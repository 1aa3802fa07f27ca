"""The Gaussian bottleneck of the text VAE (Kingma & Welling 2014; Bowman et al. 2016).

q(z|x) = N(μ, diag σ²) with μ and log σ² read off the pooled encoder state; z = μ + σ·ε while
training (reparameterised), μ at evaluation unless a sample is asked for; the KL to N(0, I) is
analytic per dimension. Free bits (Kingma et al. 2016; Optimus's λ): a dimension whose batch-mean KL
is below ``free_bits`` contributes the constant ``free_bits`` instead, so no gradient pushes it
further down; above the threshold its KL is untouched.

``mean_batchnorm`` = γ (BN-VAE, Zhu et al. 2020): μ passes through a batch norm with its scale fixed
at γ and a learned shift, so each dimension's μ has variance γ² over a batch. Then E_x[KL_d] ≥ γ²/2
per dimension whatever the decoder does: the posterior cannot collapse onto the prior, and every
dimension's Cov_x E[z|x] is ≈ γ² (active). Whether the decoder makes use of z is then what the NLL,
the MI and the reconstructions show.
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
    """Options: ``free_bits`` (λ, nats per dimension), ``logvar_min`` / ``logvar_max`` (clamp),
    ``mean_batchnorm`` (γ > 0: BN-VAE's batch-normalised μ; 0 / None: off)."""

    loss_terms = ("kl",)

    def __init__(
        self,
        hidden_size: int,
        latent_dim: int,
        free_bits: float = 0.0,
        logvar_min: float = -10.0,
        logvar_max: float = 4.0,
        mean_batchnorm: float | None = None,
    ):
        super().__init__(hidden_size, latent_dim)
        self.to_mean = nn.Linear(hidden_size, latent_dim)
        self.to_logvar = nn.Linear(hidden_size, latent_dim)
        self.free_bits = free_bits
        self.logvar_range = (logvar_min, logvar_max)
        if mean_batchnorm is not None and mean_batchnorm < 0:
            raise ValueError(f"mean_batchnorm must be a scale γ > 0 (or 0 / null for off), got {mean_batchnorm}")
        self.mean_norm = None
        if mean_batchnorm:
            self.mean_norm = nn.BatchNorm1d(latent_dim, affine=False)
            self.mean_shift = nn.Parameter(torch.zeros(latent_dim))
            self.mean_scale = float(mean_batchnorm)

    def posterior_mean(self, pooled: torch.Tensor) -> torch.Tensor:
        """μ(x): [B, H] → [B, d]."""
        mean = self.to_mean(pooled)
        if self.mean_norm is not None:
            mean = self.mean_norm(mean) * self.mean_scale + self.mean_shift
        return mean

    def embedding_head(self) -> nn.Linear:
        """The posterior mean μ(x) as one linear map (what encode returns unless a sample is asked for);
        with the batch norm, its eval-time affine transform is folded into the weights."""
        if self.mean_norm is None:
            return self.to_mean
        norm = self.mean_norm
        gain = self.mean_scale / torch.sqrt(norm.running_var + norm.eps)
        head = nn.Linear(self.to_mean.in_features, self.to_mean.out_features)
        with torch.no_grad():
            head.weight.copy_(self.to_mean.weight * gain[:, None])
            head.bias.copy_((self.to_mean.bias - norm.running_mean) * gain + self.mean_shift)
        return head

    def forward(self, encoded: EncoderStates, sample: bool | None = None) -> BottleneckOutput:
        pooled = encoded.pooled.float()  # the heads and the KL in fp32: exp(logvar) is fragile under bf16
        with torch.autocast(device_type=pooled.device.type, enabled=False):
            mean = self.posterior_mean(pooled)
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
