"""Bottlenecks: what sits between the encoder and the decoder.

Every bottleneck takes :class:`EncoderStates` (pooled [B, H] and per-token [B, T, H] states) and
returns a :class:`BottleneckOutput`: the latent the decoder is conditioned on, its mask when it is
per-position, a dict of loss terms (each weighted by the training loop, see ``loss_weights``) and a
dict of detached statistics to log. Families differ by which bottleneck they compose; new ones
register with :func:`register_bottleneck` and are chosen by name in the model config.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from .encoder import EncoderStates


@dataclass
class BottleneckOutput:
    """latent: [B, d] or [B, L, d]; latent_mask: [B, L] for per-position latents, else None;
    mean / logvar: [B, d], the Gaussian posterior q(z|x) when the bottleneck has one;
    encoder_states: the encoder's output it was computed from (set by the model's ``encode_latent``)."""

    latent: torch.Tensor
    latent_mask: torch.Tensor | None = None
    mean: torch.Tensor | None = None
    logvar: torch.Tensor | None = None
    losses: dict[str, torch.Tensor] = field(default_factory=dict)
    stats: dict[str, torch.Tensor] = field(default_factory=dict)
    encoder_states: object | None = None


class Bottleneck(nn.Module):
    """Base class. Subclasses set ``loss_terms`` (the names of the losses they return)."""

    loss_terms: tuple[str, ...] = ()
    per_position: bool = False

    def __init__(self, hidden_size: int, latent_dim: int, **options):
        super().__init__()
        if options:
            raise TypeError(f"{type(self).__name__} got unknown options {sorted(options)}")
        self.hidden_size = hidden_size
        self.latent_dim = latent_dim

    def forward(self, encoded: EncoderStates, sample: bool | None = None) -> BottleneckOutput:
        raise NotImplementedError

    def embedding_head(self) -> nn.Linear | None:
        """The linear map pooled [B, H] → the sentence embedding ``encode`` returns (None: the pooled
        vector itself). Bottlenecks whose embedding is not linear in the pooled vector raise."""
        raise NotImplementedError(f"{type(self).__name__} has no linear sentence-embedding head")


class IdentityBottleneck(Bottleneck):
    """The plain autoencoder: z = W · pooled (a linear map to the latent size, no noise, no loss).

    With ``project=False`` z is the pooled encoder output itself (latent_dim must equal the encoder's
    hidden size): the sentence embedding of a pretrained encoder, as TSDAE uses it.
    """

    def __init__(self, hidden_size: int, latent_dim: int, project: bool = True, **options):
        super().__init__(hidden_size, latent_dim, **options)
        if not project and latent_dim != hidden_size:
            raise ValueError(f"identity bottleneck without projection needs latent_dim == the encoder's hidden size ({hidden_size}), got {latent_dim}")
        self.proj = nn.Linear(hidden_size, latent_dim) if project else nn.Identity()

    def forward(self, encoded: EncoderStates, sample: bool | None = None) -> BottleneckOutput:
        latent = self.proj(encoded.pooled)
        return BottleneckOutput(latent=latent, stats={"latent_norm": latent.detach().norm(dim=-1).mean()})

    def embedding_head(self) -> nn.Linear | None:
        return self.proj if isinstance(self.proj, nn.Linear) else None


BOTTLENECKS: dict[str, type[Bottleneck]] = {}


def register_bottleneck(name: str, cls: type[Bottleneck]) -> None:
    BOTTLENECKS[name] = cls


def build_bottleneck(name: str, hidden_size: int, latent_dim: int, options: dict | None = None) -> Bottleneck:
    if name not in BOTTLENECKS:
        raise ValueError(f"unknown bottleneck {name!r}; registered: {sorted(BOTTLENECKS)}")
    return BOTTLENECKS[name](hidden_size, latent_dim, **(options or {}))


register_bottleneck("identity", IdentityBottleneck)
