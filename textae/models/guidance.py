"""Label guidance for a conditioned decoder: contrastive, classifier-free style.

At each decoding step the decoder's next-token log-probabilities under the asked label y are pushed
away from those under the other labels:

    score = log p(w | z, y) + γ · (log p(w | z, y) − log p̄(w | z, ¬y)),   p̄ = the mean over the other labels

γ = 0 is plain decoding. The contrast is the same decoder with the same z and another label, so it
needs no extra training (unlike classifier-free guidance with label dropout, which contrasts with an
unconditioned pass). It amplifies exactly what the label changes in the decoder's predictions: with
a z that carries a sentiment of its own, the label's effect on the words can be weaker than z's, and
guidance restores it. The price is one more decoder pass per step for each other label (batched
together, with its own KV cache) and, at large γ, fluency.

Used through ``logits_processor`` of HF's ``generate``; it runs before temperature and top-p.
"""

from __future__ import annotations

import math

import torch
from transformers import LogitsProcessor


class LabelGuidance(LogitsProcessor):
    """``model``: a label-conditioned textae model (``forward(input_ids, attention_mask, latent=,
    class_label=, cache=, use_cache=)``); ``latent`` [B, d] the rows' z; ``class_label`` [B] the asked
    label ids; ``num_labels`` K ≥ 2; ``weight`` γ ≥ 0."""

    def __init__(self, model, latent: torch.Tensor, class_label: torch.Tensor, num_labels: int, weight: float):
        if weight < 0 or not math.isfinite(weight):
            raise ValueError(f"label guidance weight must be a finite number ≥ 0, got {weight}")
        if num_labels < 2:
            raise ValueError(f"label guidance needs at least 2 labels to contrast, got {num_labels}")
        self.model, self.weight, self.others = model, float(weight), num_labels - 1
        asked = class_label.tolist()
        # row r of block k holds the k-th label other than row r's: [(K-1) * B] ids, block by block
        contrast = [[k for k in range(num_labels) if k != y] for y in asked]
        self.contrast_labels = torch.tensor([row[k] for k in range(self.others) for row in contrast], dtype=torch.long, device=latent.device)
        self.latent = latent.repeat(self.others, 1)
        self.cache = None
        self.seen = 0  # tokens of each row the contrast pass has read

    @torch.no_grad()
    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        """input_ids [B, t] (everything so far), scores [B, V] (the asked label's next-token logits)."""
        if self.weight == 0:
            return scores
        new = input_ids[:, self.seen :].repeat(self.others, 1)
        mask = torch.ones(new.shape[0], input_ids.shape[1], dtype=torch.long, device=input_ids.device)
        out = self.model(input_ids=new, attention_mask=mask, latent=self.latent, class_label=self.contrast_labels, cache=self.cache, use_cache=True)
        self.cache, self.seen = out.cache, input_ids.shape[1]
        other = out.logits[:, -1].float().log_softmax(-1).view(self.others, *scores.shape)
        other = torch.logsumexp(other, dim=0) - math.log(self.others)  # log of the other labels' mean probability
        asked = scores.float().log_softmax(-1)
        return (asked + self.weight * (asked - other)).to(scores.dtype)
