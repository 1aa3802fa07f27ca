"""The text VAE: Gaussian bottleneck, KL to N(0, I) weighted by a schedule, optional free bits and
word dropout (Bowman et al. 2016; Optimus, Li et al. 2020). The loss is the negative ELBO per
sentence when the KL weight is 1: NLL summed over each sentence's tokens + KL.

:class:`VariationalMixin` is what the VAE and the CVAE share (word dropout, zero-initialised latent
injection, sampling z from the prior, interpolation, the VAE metrics); each composes it with the core.
"""

from __future__ import annotations

import torch
from torch import nn

from ..inputs import check_sampling
from . import protocol
from .base import TextAutoencoderConfig, TextAutoencoderModel
from .dae import ConsistencyMixin


class TextVAEConfig(TextAutoencoderConfig):
    """The autoencoder's settings, plus:

    Args:
        zero_init_injection: start the projections of z into the decoder (memory slots, added
            embedding) at zero, so the untrained decoder is exactly the AR LM and a noisy z
            (σ ≈ 1 early on) does not drown the token embeddings it is added to.
    """

    model_type = "textae_vae"
    default_bottleneck = "gaussian"

    reconstruction_reduction: str = "sentence"
    zero_init_injection: bool = False


class VariationalMixin:
    """A Gaussian-latent family's own pieces, over :class:`TextAutoencoderModel`."""

    word_dropout_applied = True

    def __init__(self, config: TextVAEConfig):
        super().__init__(config)
        if config.zero_init_injection:
            for projection in (self.decoder.injection, self.decoder.to_embedding):
                if projection is not None:
                    nn.init.zeros_(projection.weight)
                    nn.init.zeros_(projection.bias)

    def decoder_inputs(self, dec_inputs: torch.Tensor, dec_mask: torch.Tensor) -> torch.Tensor:
        if self.training and self.config.word_dropout > 0:
            return self._word_dropout(dec_inputs, dec_mask)
        return dec_inputs

    def _word_dropout(self, dec_inputs: torch.Tensor, dec_mask: torch.Tensor) -> torch.Tensor:
        """Replaces decoder inputs [B, T] by [UNK] with prob ``word_dropout``; BOS (position 0) is kept."""
        drop = torch.rand(dec_inputs.shape, device=dec_inputs.device) < self.config.word_dropout
        drop[:, 0] = False
        return dec_inputs.masked_fill(drop & dec_mask.bool(), self.config.unk_token_id)

    def extra_metrics(self, dataloader, max_batches: int | None = None, iw_samples: int = 20) -> dict:
        """IW-NLL (``iw_samples`` samples), −ELBO, KL, MI, active units, PPL: see :func:`vae_report`."""
        from ..metrics.vae import vae_report

        return {"vae": vae_report(self, dataloader, k=iw_samples, max_batches=max_batches)}

    def metric_lines(self, metrics: dict) -> list[str]:
        vae = metrics.get("vae")
        lines = [] if not vae else [
            f"VAE: IW-NLL/sentence {vae['iw_nll_per_sentence']:.3f} (k={vae['iw_samples']}), -ELBO {vae['neg_elbo_per_sentence']:.3f}, "
            f"KL {vae['kl_per_sentence']:.3f}, MI {vae['mutual_information']:.3f}, active units {vae['active_units']}/{vae['latent_dim']}, "
            f"PPL {vae['ppl_iw']:.3f}"
        ]
        return lines + super().metric_lines(metrics)

    def prior_latent(self, n: int, temperature: float, top_p: float, greedy: bool, generate_kwargs: dict) -> torch.Tensor:
        """z ~ N(0, temperature² I) [n, d] for sampling; ``generate_kwargs`` gets nucleus sampling unless ``greedy``."""
        check_sampling(n, temperature, top_p)
        if not greedy:
            generate_kwargs.update(do_sample=True, top_p=top_p)
        return torch.randn(n, self.config.latent_dim, device=self.device) * temperature

    @torch.no_grad()
    def interpolate(self, a: str, b: str, steps: int = 5, **generate_kwargs) -> list[str]:
        """Decodes ``steps`` evenly spaced points between the posterior means of ``a`` and ``b``."""
        if steps < 2:
            raise ValueError(f"steps must be ≥ 2, got {steps}")
        za, zb = self.encode([a, b])
        weights = torch.linspace(0, 1, steps)[:, None]
        return self.decode((1 - weights) * za + weights * zb, **generate_kwargs)


class TextVAE(VariationalMixin, ConsistencyMixin, TextAutoencoderModel):
    """``encode(texts, sample=False)``, ``sample(n, temperature)``, ``interpolate(a, b, steps)``,
    ``reconstruct(texts)``, ``decode(z)``; ``generate(input_ids=bos, latent=z)`` for HF-style decoding."""

    config_class = TextVAEConfig
    operations = TextAutoencoderModel.operations | {protocol.SAMPLE}

    @torch.no_grad()
    def sample(self, n: int = 1, temperature: float = 1.0, top_p: float = 1.0, greedy: bool = True, **generate_kwargs) -> list[str]:
        """n sentences from the prior: z ~ N(0, temperature² I), decoded greedily (or sampled with ``greedy=False``)."""
        z = self.prior_latent(n, temperature, top_p, greedy, generate_kwargs)
        return self.decode(z, **generate_kwargs)
