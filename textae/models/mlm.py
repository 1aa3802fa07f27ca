"""The masked LM (BERT, Devlin et al. 2019): the encoder predicts its masked tokens (15% by default;
of those 80% read [MASK], 10% a random token, 10% themselves). It is ELECTRA's baseline at equal
settings: the same encoder, masks and export (:class:`~textae.models.encoder_only.TextEncoderOnlyModel`).
The loss is ``mlm``, the cross-entropy at the masked tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers.utils import ModelOutput

from ..noise.electra import bert_mask, select_masked
from .encoder_only import MaskedLMHead, TextEncoderOnlyConfig, TextEncoderOnlyModel, masked_cross_entropy


class TextMLMConfig(TextEncoderOnlyConfig):
    """Masked-LM pretraining of any HF encoder (the settings are :class:`TextEncoderOnlyConfig`'s)."""

    model_type = "textae_mlm"


@dataclass
class TextMLMOutput(ModelOutput):
    """loss: weighted sum of ``loss_terms``; logits [N, V]: the predictions at the N masked positions;
    labels [N]: the original tokens there; input_ids / attention_mask: what the encoder read [B, T];
    loss_terms / stats: named scalars to log."""

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    labels: torch.LongTensor | None = None
    input_ids: torch.LongTensor | None = None
    attention_mask: torch.LongTensor | None = None
    loss_terms: dict | None = None
    stats: dict | None = None


class TextMLM(TextEncoderOnlyModel):
    config_class = TextMLMConfig

    def __init__(self, config: TextMLMConfig):
        super().__init__(config)
        embeddings = self.encoder.get_input_embeddings()
        self.mlm_head = MaskedLMHead(self.encoder.hidden_size, embeddings.embedding_dim, embeddings.num_embeddings)
        self.check_loss_weights()
        self.post_init()

    def loss_term_names(self) -> set[str]:
        return {"mlm"}

    def masked_lm_predictions(self, output: TextMLMOutput):
        return output.logits, output.labels

    def metric_lines(self, metrics: dict) -> list[str]:
        report = metrics.get("electra")
        return [f"MLM: accuracy {report['mlm_accuracy']:.4f} over {report['masked_tokens']} masked tokens"] if report else []

    def extra_metrics(self, dataloader, max_batches: int | None = None, iw_samples: int | None = None) -> dict:
        """The masked-token accuracy (:func:`textae.metrics.electra.electra_report`, whose key it shares
        so that ELECTRA and MLM runs compare)."""
        from ..metrics.electra import electra_report

        return {"electra": electra_report(self, dataloader, max_batches=max_batches)}

    def forward(self, input_ids, attention_mask=None, labels=None, loss_weights=None, return_dict=None, output_attentions=None, output_hidden_states=None) -> TextMLMOutput:
        mask, rng, candidates = self.mask_candidates(input_ids, attention_mask)
        masked = select_masked(candidates, self.config.mask_rate, rng)
        targets = input_ids[masked]
        weight = self.get_input_embeddings().weight
        vocab = torch.arange(weight.shape[0], device=input_ids.device)
        random_ids = vocab[~torch.isin(vocab, torch.tensor(self.special_ids(), device=vocab.device))]
        mlm_input = bert_mask(input_ids, masked, self.config.mask_token_id, random_ids, rng)
        logits = self.mlm_head(self.encoder(mlm_input, mask).states[masked], weight)
        terms = {"mlm": masked_cross_entropy(logits, targets)}
        with torch.no_grad():
            accuracy = (logits.argmax(-1) == targets).sum().float() / max(1, targets.numel())
        return TextMLMOutput(
            loss=self.combine_losses(terms, loss_weights),
            logits=logits,
            labels=targets,
            input_ids=mlm_input,
            attention_mask=mask,
            loss_terms=terms,
            stats={"mlm_accuracy": accuracy},
        )
