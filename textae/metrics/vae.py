"""What the text-VAE literature reports, with the field's names: importance-weighted NLL (k samples),
−ELBO, KL, mutual information I(x;z), active units, PPL with its token unit.

References: Burda et al. 2016 (IW bound), Hoffman & Johnson 2016 / He et al. 2019 (MI estimator),
Burda et al. 2016 (active units: Cov_x E[z|x] > 0.01).
"""

from __future__ import annotations

import math

import torch

from ..models.base import decoder_io, token_cross_entropy
from ..models.hf import eval_mode
from ..tensors import IGNORE_INDEX

LOG_2PI = math.log(2 * math.pi)


def gaussian_log_density(z: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; μ, diag σ²) summed over the last dimension."""
    return -0.5 * (LOG_2PI + logvar + (z - mean).pow(2) / logvar.exp()).sum(-1)


def active_units(means: torch.Tensor, threshold: float = 0.01) -> tuple[int, torch.Tensor]:
    """Dimensions whose posterior mean varies across the data: Var_x E[z|x] > threshold. means: [N, d]."""
    variances = means.float().var(0, unbiased=True) if means.shape[0] > 1 else torch.zeros(means.shape[1])
    return int((variances > threshold).sum()), variances


def mutual_information(means: torch.Tensor, logvars: torch.Tensor, generator: torch.Generator | None = None) -> float:
    """I(x;z) under q: E_x E_q(z|x) log q(z|x) − E_q(z) log q(z), the aggregate posterior q(z)
    estimated by the mixture of the N posteriors given. means, logvars: [N, d]."""
    means, logvars = means.double(), logvars.double()
    n, d = means.shape
    neg_entropy = (-0.5 * d * LOG_2PI - 0.5 * (1 + logvars).sum(-1)).mean()
    z = means + torch.randn(means.shape, generator=generator, dtype=means.dtype) * (0.5 * logvars).exp()
    # log q(z_i | x_j) for every pair: [N, N]
    diff = z[:, None, :] - means[None, :, :]
    log_q_pairs = -0.5 * (LOG_2PI + logvars[None] + diff.pow(2) / logvars.exp()[None]).sum(-1)
    log_q_z = torch.logsumexp(log_q_pairs, dim=1) - math.log(n)
    return float(neg_entropy - log_q_z.mean())


@torch.no_grad()
def importance_weighted(model, batch: dict[str, torch.Tensor], k: int, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """Per sentence [B]: the k-sample importance-weighted log-likelihood bound, the ELBO with analytic KL,
    the ELBO on the same k samples (never above the IW bound, by Jensen), the KL, and the token count.
    A label-conditioned model (the batch has ``class_label``) gives the bounds on log p(x | y)."""
    condition = {key: batch[key] for key in model.condition_keys if key in batch}
    enc = model.encode_latent(batch["input_ids"], batch["attention_mask"], sample=False, **condition)
    if enc.mean is None:
        raise ValueError(f"{type(model).__name__} has no Gaussian posterior to weight samples with")
    mean, logvar = enc.mean.float(), enc.logvar.float()
    dec_inputs, dec_mask, targets = decoder_io(batch["labels"], model.config.pad_token_id)
    log_weights, log_px = [], []
    for _ in range(k):
        eps = torch.randn(mean.shape, generator=generator).to(mean.device)
        z = mean + eps * (0.5 * logvar).exp()
        logits = model.decoder(dec_inputs, dec_mask, latent=model.decoder_latent(z.to(model.dtype), **condition)).logits
        lp = -token_cross_entropy(logits, targets).sum(1).double()
        prior = gaussian_log_density(z, torch.zeros_like(z), torch.zeros_like(z)).double()
        post = gaussian_log_density(z, mean, logvar).double()
        log_px.append(lp)
        log_weights.append(lp + prior - post)
    log_weights = torch.stack(log_weights)  # [k, B]
    kl = (0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar)).sum(-1).double()
    return {
        "iw_log_likelihood": torch.logsumexp(log_weights, 0) - math.log(k),
        "elbo": torch.stack(log_px).mean(0) - kl,
        "elbo_same_samples": log_weights.mean(0),
        "kl": kl,
        "tokens": (targets != IGNORE_INDEX).sum(1),
        "mean": mean,
        "logvar": logvar,
    }


@torch.no_grad()
def vae_report(model, dataloader, k: int = 50, max_batches: int | None = None, seed: int = 0) -> dict:
    """IW-NLL (k samples), −ELBO, KL, MI, active units and PPL over a dataloader of textae batches."""
    with eval_mode(model):
        generator = torch.Generator().manual_seed(seed)
        device = next(model.parameters()).device
        parts: dict[str, list[torch.Tensor]] = {}
        for i, batch in enumerate(dataloader):
            if max_batches is not None and i >= max_batches:
                break
            batch = {key: value.to(device) for key, value in batch.items()}
            for key, value in importance_weighted(model, batch, k, generator).items():
                parts.setdefault(key, []).append(value.cpu())
    if not parts:
        raise ValueError("evaluation data is empty")
    cat = {key: torch.cat(values) for key, values in parts.items()}
    n, tokens = cat["kl"].shape[0], int(cat["tokens"].sum())
    iw_nll = -float(cat["iw_log_likelihood"].sum())
    au, variances = active_units(cat["mean"])
    return {
        "iw_samples": k,
        "iw_nll_per_sentence": iw_nll / n,
        "neg_elbo_per_sentence": -float(cat["elbo"].mean()),
        "kl_per_sentence": float(cat["kl"].mean()),
        "mutual_information": mutual_information(cat["mean"], cat["logvar"], generator),
        "active_units": au,
        "latent_dim": int(cat["mean"].shape[1]),
        "active_unit_variances": variances.tolist(),
        "ppl_iw": math.exp(iw_nll / tokens),
        "sentences": n,
        "tokens": tokens,
    }
