"""The AR LM baseline: the textae decoder with no latent (same tokenizer, same decoder size)."""

from __future__ import annotations

import torch

from ..inputs import check_sampling
from ..tensors import pad_sequences
from ..modules import LatentDecoder
from .base import (
    IGNORE_INDEX,
    TextAEBaseConfig,
    TextAEModelBase,
    TextLMOutput,
    length_sorted_batches,
    token_cross_entropy,
)
from . import protocol
from .losses import weighted_sum


class TextLMConfig(TextAEBaseConfig):
    """The AR LM baseline: the textae decoder with no latent."""

    model_type = "textae_lm"


class TextLM(TextAEModelBase):
    """Autoregressive LM: ``input_ids`` = ``labels`` = [BOS] x [EOS] (labels -100 padded).

    Packed rows (several sentences a row, see :class:`~textae.data.TextAECollator`) come with
    ``position_ids`` [B, T] that restart at each sentence and no ``attention_mask``.
    """

    config_class = TextLMConfig
    batch_format = "lm"
    operations = frozenset({protocol.SAMPLE, protocol.SCORE})

    def evaluation_report(self, dataloader, texts, teacher_forced, *, eval_data=None, **settings) -> dict:
        # only an LM's teacher-forced NLL is -log p(x); an autoencoder's is conditioned on x itself
        report = super().evaluation_report(dataloader, texts, teacher_forced, eval_data=eval_data, **settings)
        if eval_data is not None and "nll_per_sentence" in teacher_forced:
            from ..metrics.evaluation import exact_reference

            reference = exact_reference(eval_data, teacher_forced["nll_per_sentence"])
            if reference:
                report["exact_reference"] = reference
        return report

    def token_predictions(self, output, batch: dict):
        # the LM reads [BOS] x [EOS] and predicts from every position: the last one has no target
        return output.logits[:, :-1], batch["labels"][:, 1:]

    def metric_lines(self, metrics: dict) -> list[str]:
        ref = metrics.get("exact_reference")
        if not ref:
            return []
        return [
            f"exact NLL/sentence of this sample under the grammar {ref['exact_nll_per_sentence']:.3f} nats "
            f"(entropy {ref['grammar_entropy']:.3f}); model is {ref['model_over_exact']:+.2%} above it"
        ]

    def __init__(self, config: TextLMConfig):
        super().__init__(config)
        self.decoder = LatentDecoder(config.decoder_config, vocab_size=config.vocab_size)
        self.post_init()

    def get_input_embeddings(self):
        return self.decoder.lm.get_input_embeddings()

    def configured_loss_weights(self) -> dict[str, float]:
        return {}  # its config has no loss_weights: the one term weighs 1 unless a step says otherwise

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        loss_weights: dict[str, float] | None = None,
        position_ids: torch.Tensor | None = None,
        cache=None,
        use_cache: bool | None = None,
        return_dict: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
    ) -> TextLMOutput:
        weights = self.resolved_loss_weights(loss_weights)  # one term, 'reconstruction'; others are refused
        out = self.decoder(input_ids, attention_mask, cache=cache, use_cache=use_cache, position_ids=position_ids)
        if labels is None:
            return TextLMOutput(logits=out.logits, cache=getattr(out, "cache", None))
        nll = token_cross_entropy(out.logits[:, :-1], labels[:, 1:])
        loss = nll.sum() / (labels[:, 1:] != IGNORE_INDEX).sum().clamp(min=1)
        return TextLMOutput(
            loss=weighted_sum({"reconstruction": loss}, weights),
            reconstruction_loss=loss,
            logits=out.logits,
            loss_terms={"reconstruction": loss},
            # one EOS target per sentence, whether a row holds one sentence or several (packed)
            stats={"nll_per_sentence": (nll.sum() / (labels == self.config.eos_token_id).sum().clamp(min=1)).detach()},
        )

    @torch.no_grad()
    def sample(self, n: int = 1, max_new_tokens: int | None = None, temperature: float = 1.0, top_p: float = 1.0, **kwargs) -> list[str]:
        """n sentences sampled from the LM."""
        check_sampling(n, temperature, top_p)
        kwargs = self._generation_defaults(max_new_tokens, dict(kwargs, do_sample=True, temperature=temperature, top_p=top_p))
        ids = self.generate(input_ids=self._bos(n), **kwargs)
        return self._decode_ids(ids[:, 1:])

    @torch.no_grad()
    def score(self, texts: list[str], batch_size: int = 64) -> torch.Tensor:
        """NLL in nats of each sentence (its tokens and the final EOS) [N]."""
        ids = [[self.config.bos_token_id, *s, self.config.eos_token_id] for s in self._tokenize(texts)]
        out = torch.empty(len(ids))
        for batch in length_sorted_batches([len(s) for s in ids], batch_size):
            input_ids, mask = (t.to(self.device) for t in pad_sequences([ids[i] for i in batch], self.config.pad_token_id))
            logits = self(input_ids, mask).logits
            nll = token_cross_entropy(logits[:, :-1], input_ids[:, 1:].masked_fill(mask[:, 1:] == 0, IGNORE_INDEX))
            out[torch.tensor(batch)] = nll.sum(1).float().cpu()
        return out
