"""Label conditioning of a conditional VAE (Sohn et al. 2015; Hu et al. 2017): q(z | x, y) and p(x | z, y).

One label embedding e(y) [B, m] serves both sides:

* encoder side: a projection of e(y) is added to the pooled encoder state before the bottleneck's
  heads, so the posterior is q(z | x, y);
* decoder side: the latent the decoder sees is the concatenation [z ; e(y)] [B, d + m], which then
  goes through the decoder's usual memory / embedding injection, so the decoder is p(x | z, y). At
  inference z ~ N(0, I) is joined to the label the user asks for.

An optional linear probe ``classifier`` reads the label off the pooled encoder state (detached: it
learns from the encoder, never shapes it). It names a sentence's label when the caller gives none
(``reconstruct`` / ``encode`` / ``transfer`` without source labels).

An optional label adversary keeps the label out of z, so that the label the decoder is given is the
only sentiment it reads (John et al. 2019 do this for a style/content split): a small MLP learns to
read the label off the posterior mean μ (loss ``label_adversary``, on μ detached, so it never shapes
the encoder), while the encoder is pushed to make that MLP's prediction uniform (loss
``label_confusion``: the cross-entropy of the adversary's prediction against the uniform
distribution, minus its floor log K, through a frozen copy of the adversary). Confusion toward the
uniform distribution has its minimum where z says nothing about y, where a reversed gradient on the
adversary's own loss would reward confidently wrong predictions, which still carry the label.

>>> import torch
>>> from textae.modules.encoder import EncoderStates
>>> cond = LabelConditioning(num_labels=3, label_dim=4, hidden_size=8)
>>> states = EncoderStates(states=torch.zeros(2, 5, 8), mask=torch.ones(2, 5), pooled=torch.zeros(2, 8))
>>> cond.condition_encoder(states, torch.tensor([0, 2])).pooled.shape
torch.Size([2, 8])
>>> cond.condition_latent(torch.zeros(2, 16), torch.tensor([0, 2])).shape
torch.Size([2, 20])
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import nn

from .encoder import EncoderStates


class LabelConditioning(nn.Module):
    """Args:
        num_labels: number of classes (ids 0 .. num_labels − 1).
        label_dim: size m of the label embedding joined to z.
        hidden_size: the encoder's hidden size H (the pooled state the label is added to).
        classifier: add the detached linear probe pooled → label logits (loss term ``label``).
        adversary_latent_dim: the latent size d to put a label adversary on (loss terms
            ``label_adversary`` and ``label_confusion``); 0 for none.
    """

    adversary_hidden = 64

    def __init__(self, num_labels: int, label_dim: int, hidden_size: int, classifier: bool = True, adversary_latent_dim: int = 0):
        super().__init__()
        if num_labels < 1 or label_dim < 1:
            raise ValueError(f"label conditioning needs num_labels ≥ 1 and label_dim ≥ 1, got {num_labels} and {label_dim}")
        self.num_labels = num_labels
        self.label_dim = label_dim
        self.embedding = nn.Embedding(num_labels, label_dim)
        self.to_pooled = nn.Linear(label_dim, hidden_size)
        self.classifier = nn.Linear(hidden_size, num_labels) if classifier else None
        self.adversary = None
        if adversary_latent_dim > 0:
            h = self.adversary_hidden
            self.adversary = nn.Sequential(nn.Linear(adversary_latent_dim, h), nn.GELU(), nn.Linear(h, num_labels))

    @property
    def loss_terms(self) -> tuple[str, ...]:
        probe = ("label",) if self.classifier is not None else ()
        return probe + (("label_adversary", "label_confusion") if self.adversary is not None else ())

    def _check(self, labels: torch.Tensor) -> torch.Tensor:
        if labels.dim() != 1:
            raise ValueError(f"class_label must be [B] label ids, got shape {tuple(labels.shape)}")
        return labels.long()

    def condition_encoder(self, encoded: EncoderStates, labels: torch.Tensor) -> EncoderStates:
        """pooled [B, H] → pooled + W e(y): what the bottleneck reads for q(z | x, y)."""
        labels = self._check(labels)
        pooled = encoded.pooled + self.to_pooled(self.embedding(labels)).to(encoded.pooled.dtype)
        return dataclasses.replace(encoded, pooled=pooled)

    def condition_latent(self, latent: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """z [B, d] → [z ; e(y)] [B, d + m]: the decoder's latent for p(x | z, y)."""
        labels = self._check(labels)
        if latent.dim() != 2:
            raise ValueError(f"label conditioning joins the label to a [B, d] latent, got shape {tuple(latent.shape)}")
        return torch.cat([latent, self.embedding(labels).to(latent.dtype)], dim=-1)

    def predict(self, pooled: torch.Tensor) -> torch.Tensor:
        """The probe's label ids [B] from pooled encoder states [B, H]."""
        if self.classifier is None:
            raise ValueError("this model has no label classifier (label_classifier=False): give the source labels")
        return self.classifier(pooled.detach().float().to(self.classifier.weight.dtype)).argmax(-1)

    def losses(
        self, pooled: torch.Tensor, labels: torch.Tensor, latent_mean: torch.Tensor | None = None
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """The probe's cross-entropy on the detached pooled state [B, H] and its batch accuracy, and
        with an adversary, its two terms on the posterior mean ``latent_mean`` [B, d]."""
        losses, stats = {}, {}
        labels = self._check(labels)
        if self.classifier is not None:
            logits = self.classifier(pooled.detach().to(self.classifier.weight.dtype)).float()
            losses["label"] = F.cross_entropy(logits, labels)
            stats["label_accuracy"] = (logits.argmax(-1) == labels).float().mean().detach()
        if self.adversary is not None:
            if latent_mean is None:
                raise ValueError("the label adversary reads the posterior mean: pass latent_mean [B, d]")
            losses.update(self.adversary_losses(latent_mean, labels))
            with torch.no_grad():
                stats["label_adversary_accuracy"] = (self.adversary(latent_mean.float()).argmax(-1) == labels).float().mean()
        return losses, stats

    def adversary_losses(self, latent_mean: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """``label_adversary``: the adversary's cross-entropy on μ [B, d] detached (it learns, the
        encoder does not); ``label_confusion``: CE(uniform, adversary(μ)) − log K through frozen
        adversary weights (the encoder learns, the adversary does not); 0 when μ says nothing of y."""
        mean = latent_mean.float()
        adversary_loss = F.cross_entropy(self.adversary(mean.detach()), labels)
        frozen = {name: p.detach() for name, p in self.adversary.named_parameters()}
        log_probs = F.log_softmax(torch.func.functional_call(self.adversary, frozen, (mean,)), dim=-1)
        confusion = -log_probs.mean(-1).mean() - math.log(self.num_labels)
        return {"label_adversary": adversary_loss, "label_confusion": confusion}
