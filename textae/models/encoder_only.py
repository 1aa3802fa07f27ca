"""What the encoder-only families (ELECTRA, the masked LM) share: their config, the masked-LM head,
the choice of masked tokens, the eval-mode random source and the export of the encoder as a plain HF
checkpoint. Each family's own objective is in its file (:mod:`.electra`, :mod:`.mlm`).

Randomness (masks, samples, insertions) comes from torch's global RNG while training (the loop
reseeds it per batch) and, in eval mode, from a generator seeded by the batch's tokens, so evaluation
is repeatable and padding never changes it.
"""

from __future__ import annotations

import copy
import warnings
import zlib
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..modules import SentenceEncoder
from . import protocol
from .base import DEFAULT_ENCODER, TextAEModelBase
from .token_config import TextTokenConfig

# loss-term names renamed since models were first saved: old → new (the old still works, with a FutureWarning)
RENAMED_TERMS = {"reconstruction": "mlm"}


def renamed_terms(weights: dict | None, where: str) -> dict:
    """``weights`` with the terms' old names replaced by the new ones, warning once per old name."""
    weights = dict(weights or {})
    for old, new in RENAMED_TERMS.items():
        if old in weights:
            warnings.warn(f"{where}: the masked-LM loss term is now called {new!r}; rename {old!r}", FutureWarning, stacklevel=3)
            weights.setdefault(new, weights.pop(old))
    return weights


class TextEncoderOnlyConfig(TextTokenConfig):
    """An HF encoder pretrained on corrupted text.

    Args:
        encoder_config: the encoder, an HF encoder config as a dict with ``model_type`` (tiny BERT by
            default), or a local pretrained one (``encoder_pretrained`` in a recipe).
        mask_rate: share of tokens masked ([BOS] / [EOS] / padding never are).
        loss_weights: weight of each loss term over the family's default.
        eval_seed: mixed into the seed of eval-mode corruption.
    """

    model_type = "textae_encoder_only"

    encoder_config: dict | None = None
    mask_rate: float = 0.15
    loss_weights: dict | None = None
    eval_seed: int = 0

    def __post_init__(self, **kwargs):
        if not 0.0 <= self.mask_rate <= 1.0:
            raise ValueError(f"mask_rate must be in [0, 1], got {self.mask_rate}")
        self.encoder_config = dict(self.encoder_config or DEFAULT_ENCODER)
        self.encoder_config.setdefault("vocab_size", self.vocab_size)
        if self.pad_token_id is not None:  # the padding embedding at the tokenizer's pad id (ModernBERT's default is past a small vocabulary)
            self.encoder_config.setdefault("pad_token_id", self.pad_token_id)
        self.loss_weights = renamed_terms(self.loss_weights, "model.loss_weights")
        super().__post_init__(**kwargs)

    @classmethod
    def default_noise(cls) -> None:
        return None  # the corruption is the family's own, made in forward

    @classmethod
    def settings_from_tokenizer(cls, tokenizer, settings: dict) -> dict:
        """The recipe's model ``settings`` completed with what this family reads off the tokenizer."""
        return settings


class MaskedLMHead(nn.Module):
    """Hidden states [N, h] → vocabulary logits [N, V] through the (shared) token embeddings [V, E]:
    dense h → E, GELU, LayerNorm, then ``x @ embeddings.T + bias`` (BERT's / ELECTRA's MLM head)."""

    def __init__(self, hidden_size: int, embedding_size: int, vocab_size: int, eps: float = 1e-12):
        super().__init__()
        self.dense = nn.Linear(hidden_size, embedding_size)
        self.norm = nn.LayerNorm(embedding_size, eps=eps)
        self.bias = nn.Parameter(torch.zeros(vocab_size))

    def forward(self, states: torch.Tensor, embedding_weight: torch.Tensor) -> torch.Tensor:
        return F.linear(self.norm(F.gelu(self.dense(states))), embedding_weight, self.bias)


def masked_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy (fp32) of the N masked tokens' logits [N, V] against their originals [N]; 0 when N = 0."""
    return F.cross_entropy(logits.float(), targets, reduction="sum") / max(1, targets.numel())


class TextEncoderOnlyModel(TextAEModelBase):
    """An encoder (``self.encoder``) reading ``input_ids`` [B, T] = [BOS] x [EOS] (padded) and
    ``attention_mask`` [B, T]; the collator's ``labels`` are not used, the targets are built here.

    ``export_hf_encoder(OUT)`` writes the encoder for ``AutoModelForSequenceClassification``.
    """

    config_class = TextEncoderOnlyConfig
    batch_format = "lm"  # [BOS] x [EOS]: the first token is the classifier's [CLS] after export
    operations = frozenset({protocol.EXPORT_HF_ENCODER})

    def __init__(self, config: TextEncoderOnlyConfig):
        super().__init__(config)
        self.encoder = SentenceEncoder(config.encoder_config)

    def check_loss_weights(self) -> None:
        unknown = set(self.config.loss_weights) - self.loss_term_names()
        if unknown:
            raise ValueError(f"loss_weights names unknown terms {sorted(unknown)}; terms: {sorted(self.loss_term_names())}")

    def resolved_loss_weights(self, per_step: dict[str, float] | None = None) -> dict[str, float]:
        return super().resolved_loss_weights(renamed_terms(per_step, "train.loss_weights") if per_step else per_step)

    def token_predictions(self, output, batch: dict) -> None:
        return None  # evaluation reports the family's own measures, not a token NLL

    def masked_lm_predictions(self, output) -> tuple[torch.Tensor | None, torch.Tensor]:
        """(logits [N, V] or None when nothing predicts them, original tokens [N]) at the N masked positions."""
        raise NotImplementedError

    @classmethod
    def can_generate(cls) -> bool:
        return False

    def get_input_embeddings(self):
        return self.encoder.get_input_embeddings()

    def special_ids(self) -> list[int]:
        """Ids never masked, sampled nor counted: padding, [BOS], [EOS], [MASK]."""
        c = self.config
        return sorted({i for i in (c.pad_token_id, c.bos_token_id, c.eos_token_id, c.mask_token_id) if i is not None})

    def _random_source(self, input_ids: torch.Tensor, mask: torch.Tensor) -> torch.Generator | None:
        """None (torch's global RNG) while training; in eval mode a generator seeded by the batch's real
        tokens, so the same batch is corrupted alike, with or without extra padding."""
        if self.training:
            return None
        tokens = input_ids[mask.bool()].cpu().numpy().tobytes()
        seed = zlib.crc32(tokens) * 1_000_003 + self.config.eval_seed
        return torch.Generator(device=input_ids.device).manual_seed(seed)

    def mask_candidates(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None):
        """(attention mask [B, T], random source, candidates [B, T]: the real tokens that may be masked)."""
        mask = attention_mask if attention_mask is not None else (input_ids != self.config.pad_token_id).long()
        rng = self._random_source(input_ids, mask)
        specials = torch.tensor(self.special_ids(), device=input_ids.device)
        candidates = mask.bool() & ~torch.isin(input_ids, specials)
        return mask, rng, candidates

    # ---- export ----------------------------------------------------------------------------
    def export_hf_encoder(self, out_dir: str | Path) -> Path:
        """Writes the encoder as a standard HF checkpoint with its tokenizer, whose template gives the
        ``[BOS] x [EOS]`` the encoder was trained on: ``AutoModel.from_pretrained(OUT)`` for features,
        ``AutoModelForSequenceClassification.from_pretrained(OUT, num_labels=k)`` to fine-tune (its
        pooler and classifier start new)."""
        tokenizer = with_sentence_template(copy.deepcopy(self._require_tokenizer()), self.config.bos_token_id, self.config.eos_token_id)
        out = Path(out_dir)
        encoder = self.encoder.model
        encoder.config.architectures = [type(encoder).__name__]
        encoder.save_pretrained(out)
        tokenizer.model_max_length = self.config.max_seq_length + 2
        tokenizer.save_pretrained(out)
        return out


def with_sentence_template(tokenizer, bos_id: int, eos_id: int):
    """The tokenizer, made to wrap a text as ``[BOS] x [EOS]`` (a pair as ``[BOS] a [EOS] b [EOS]``)
    when it does not already (tokenizers that textae trains add nothing)."""
    from tokenizers import processors

    from ..data.tokenization import special_template

    if special_template(tokenizer) == ([bos_id], [eos_id]):
        return tokenizer
    bos, eos = tokenizer.convert_ids_to_tokens([bos_id, eos_id])
    tokenizer.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} $B:1 {eos}:1", special_tokens=[(bos, bos_id), (eos, eos_id)]
    )
    if special_template(tokenizer) != ([bos_id], [eos_id]):
        raise ValueError(f"could not give the tokenizer the template {bos} x {eos}")
    return tokenizer
