"""Does the decoder use z? Each sentence decoded from its own latent and from another sentence's
(the batch's latents shifted by one), teacher-forced: the rise of the NLL is what z tells the
decoder. A decoder that ignores its latent shows a rise of 0; compare it with the KL, the
information the posterior sends (a rise well below the KL: the decoder reads little of it)."""

from __future__ import annotations

import torch

from ..models.base import decoder_io
from ..models.hf import eval_mode
from ..models.losses import token_cross_entropy


@torch.no_grad()
def latent_use(model, dataloader, max_batches: int | None = None) -> dict | None:
    """NLL per sentence with each sentence's posterior-mean z and with a shuffled one, their
    difference and the ratio; None when no batch has two sentences to swap."""
    own = shuffled = 0.0
    sentences = 0
    device = next(model.parameters()).device
    with eval_mode(model):
        for i, batch in enumerate(dataloader):
            if max_batches is not None and i >= max_batches:
                break
            n = batch["labels"].shape[0]
            if n < 2:
                continue
            batch = {k: v.to(device) for k, v in batch.items()}
            condition = {key: batch[key] for key in model.condition_keys if key in batch}
            enc = model.encode_latent(batch["input_ids"], batch["attention_mask"], sample=False, **condition)
            swap = torch.roll(torch.arange(n, device=device), 1)  # no sentence keeps its own latent
            own += _nll(model, batch, enc.latent, enc.latent_mask, condition)
            shuffled += _nll(model, batch, enc.latent[swap], None if enc.latent_mask is None else enc.latent_mask[swap], condition)
            sentences += n
    if not sentences:
        return None
    own, shuffled = own / sentences, shuffled / sentences
    return {"nll_per_sentence": own, "shuffled_nll_per_sentence": shuffled, "rise_per_sentence": shuffled - own, "rise_ratio": (shuffled - own) / max(own, 1e-9), "sentences": sentences}


def _nll(model, batch, latent, latent_mask, condition) -> float:
    """Summed teacher-forced NLL of the batch's sentences decoded from ``latent`` (the labels, if any, stay)."""
    inputs, mask, targets = decoder_io(batch["labels"], model.config.pad_token_id)
    logits = model.decoder(inputs, mask, latent=model.decoder_latent(latent, **condition), latent_mask=latent_mask).logits
    return float(token_cross_entropy(logits, targets).sum())
