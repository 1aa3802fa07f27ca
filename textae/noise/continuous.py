"""Continuous noise, inside the model: white noise on token embeddings and dropout on latents.

- :func:`embedding_white_noise`: Gaussian noise on the encoder's input embeddings [B, T, H], its std
  relative to each embedding's RMS, so that one ``scale`` means the same for any model width or init.
- :class:`StandardDropout`: every element of a [B, T, D] latent dropped independently.
- :class:`SpatialDropout`: whole channels dropped, the same channels at every position of a sentence
  (Tompson et al. 2015, https://arxiv.org/abs/1411.4280): neighbouring positions are strongly
  correlated, so dropping single elements removes little; dropping a channel removes it for real.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._common import check_rate


def embedding_white_noise(
    embeds: torch.Tensor,
    scale: float,
    mask: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """``embeds + scale · rms(e_t) · N(0, I)``: each token embedding gets Gaussian noise whose std is
    ``scale`` times that embedding's RMS (``sqrt(mean_h e_h²)``).

    Args:
        embeds: [B, T, H] token embeddings (any float dtype; the RMS is computed in fp32).
        scale: relative std, ≥ 0; 0 returns ``embeds`` itself.
        mask: [B, T], 1 for real tokens and 0 for padding, which is left exactly as it was.
        generator: a ``torch.Generator`` on ``embeds``' device, for reproducible noise.

    Returns:
        [B, T, H], same dtype and device as ``embeds``.

    >>> e = torch.ones(1, 3, 4)
    >>> noisy = embedding_white_noise(e, 0.1, mask=torch.tensor([[1, 1, 0]]), generator=torch.Generator().manual_seed(0))
    >>> noisy.shape, bool(torch.equal(noisy[0, 2], e[0, 2])), bool(torch.equal(noisy[0, 0], e[0, 0]))
    (torch.Size([1, 3, 4]), True, False)
    """
    if scale < 0:
        raise ValueError(f"scale must be ≥ 0, got {scale!r}")
    if scale == 0:
        return embeds
    # the noise is a perturbation, not a function of the weights: no gradient flows through its size
    rms = embeds.detach().float().pow(2).mean(dim=-1, keepdim=True).sqrt()
    noise = torch.randn(embeds.shape, generator=generator, device=embeds.device, dtype=torch.float32) * (scale * rms)
    if mask is not None:
        if mask.shape != embeds.shape[:-1]:
            raise ValueError(f"mask shape {tuple(mask.shape)} does not match embeds {tuple(embeds.shape[:-1])}")
        noise = noise * mask.unsqueeze(-1).to(noise.dtype)
    return embeds + noise.to(embeds.dtype)


class StandardDropout(nn.Module):
    """Dropout of independent elements of a [B, T, D] (or any shape) latent: each element zeroed with
    probability ``p`` while training, survivors scaled by 1 / (1 - p); the identity in eval mode.

    >>> drop = StandardDropout(0.5).eval()
    >>> x = torch.randn(2, 3, 4)
    >>> bool(torch.equal(drop(x), x))
    True
    """

    def __init__(self, p: float = 0.1):
        super().__init__()
        self.p = check_rate(p, "p")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [B, T, D] → [B, T, D]."""
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class SpatialDropout(nn.Module):
    """Channel dropout of a [B, T, D] latent: for each sentence, each of the D channels is zeroed at
    all T positions with probability ``p``, the surviving channels scaled by 1 / (1 - p); the
    identity in eval mode. On [B, D] it is the same as standard dropout.

    >>> drop = SpatialDropout(0.5)
    >>> _ = torch.manual_seed(0)
    >>> y = drop(torch.ones(1, 3, 4))
    >>> y[0]  # the same channels dropped at every position
    tensor([[0., 0., 2., 0.],
            [0., 0., 2., 0.],
            [0., 0., 2., 0.]])
    """

    def __init__(self, p: float = 0.1):
        super().__init__()
        self.p = check_rate(p, "p")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [B, T, D] (or [B, ..., D]) → same shape."""
        if not self.training or self.p == 0.0:
            return x
        if self.p == 1.0:
            return torch.zeros_like(x)
        if x.dim() < 2:
            raise ValueError(f"SpatialDropout needs [B, ..., D], got shape {tuple(x.shape)}")
        # one keep/drop draw per (sentence, channel), broadcast over the positions
        shape = (x.shape[0],) + (1,) * (x.dim() - 2) + (x.shape[-1],)
        keep = torch.empty(shape, device=x.device, dtype=x.dtype).bernoulli_(1.0 - self.p)
        return x * keep / (1.0 - self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"
