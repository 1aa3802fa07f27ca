"""The noise tagger: any HF encoder with a per-token head that tells, for each token of a corrupted
sentence, which noise made it: ``original``, ``replaced`` (a whole word swapped for another),
``inserted`` (punctuation, emoji, spaces), ``typo`` (keyboard slips, swapped / deleted / doubled
letters) or ``lookalike`` (homoglyphs) — the classes of :mod:`textae.noise.labels`.

The corruption and its labels are made in the collator (see
:class:`~textae.data.collate.TextAECollator`, ``tagged_noise``): each sentence's text goes through
the tagged steps of ``tag_noise``, seeded per example as every textae noise is (a new corruption each
epoch, the same one in a rerun or a resume, fixed seeds at evaluation), then through the fast
tokenizer with character offsets; a token takes the strongest class of its characters. The model
reads ``[BOS] corrupt(x) [EOS]`` and its loss ``tagging`` is the token cross-entropy over the five
classes (optionally class-weighted), BOS / EOS / padding excluded.

``replace_words`` draws its replacements from the tokenizer's whole-word vocabulary
(:func:`whole_words`: the words of letters it reads as one token), so a replaced word is a word of
the encoder's vocabulary and the tagger cannot spot it by its spelling alone; the list comes from
the saved tokenizer, nothing extra is saved with the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from transformers.utils import ModelOutput

from ..noise.labels import TAG_NAMES, TaggedNoise
from ..tensors import IGNORE_INDEX
from . import protocol
from .electra import DetectionHead
from .encoder_only import TextEncoderOnlyConfig, TextEncoderOnlyModel

DEFAULT_TAG_NOISE = [
    {"name": "replace_words", "rate": [0.05, 0.1, 0.2, 0.3], "p": 0.3},
    {"name": "insert_punctuation", "rate": [0.05, 0.1, 0.2, 0.3], "p": 0.3},
    {"name": "insert_emoji", "rate": [0.05, 0.1, 0.2, 0.3], "p": 0.2},
    {"name": "keyboard_typos", "rate": [0.05, 0.1, 0.2, 0.3], "p": 0.4},
    {"name": "swap_chars", "rate": [0.05, 0.1, 0.2], "p": 0.2},
    {"name": "homoglyphs", "rate": [0.05, 0.1, 0.2, 0.3], "p": 0.2},
]
# the head's starting class shares when the config names none: mostly original tokens
DEFAULT_TAG_PRIORS = (0.8, 0.05, 0.05, 0.05, 0.05)
HEAD_BIAS_INITS = ("prior", "zero")


class TextTaggerConfig(TextEncoderOnlyConfig):
    """A noise tagger over any HF encoder (``encoder_config``, or ``encoder_pretrained`` in a recipe;
    the other settings of :class:`TextEncoderOnlyConfig` too, its ``mask_rate`` unused).

    Args:
        tag_noise: the tagged noise steps, in order, as :class:`~textae.noise.labels.TaggedNoise`
            specs: ``{name, rate, p}`` with ``rate`` a number or a list (one drawn per sentence) and
            ``p`` the probability that the step acts on a sentence; names from
            :data:`~textae.noise.labels.TAGGED_STEPS`.
        class_weights: weight of each class in the cross-entropy (None: all 1).
        tag_priors: each class's expected share of the tokens, the head's starting bias (None:
            :data:`DEFAULT_TAG_PRIORS`).
        head_bias_init: "prior" (output bias = log ``tag_priors``) or "zero". As in ELECTRA (see
            :class:`~textae.models.electra.TextElectraConfig`), a zero bias makes the encoder first
            learn the base rate everywhere, which can collapse its token states.
    """

    model_type = "textae_tagger"

    tag_noise: list | None = None
    class_weights: list | None = None
    tag_priors: list | None = None
    head_bias_init: str = "prior"

    def __post_init__(self, **kwargs):
        if self.head_bias_init not in HEAD_BIAS_INITS:
            raise ValueError(f"head_bias_init must be one of {HEAD_BIAS_INITS}, got {self.head_bias_init!r}")
        self.tag_noise = [dict(step) for step in (self.tag_noise if self.tag_noise is not None else DEFAULT_TAG_NOISE)]
        for name, values in (("class_weights", self.class_weights), ("tag_priors", self.tag_priors)):
            if values is not None and (len(values) != len(TAG_NAMES) or any(v <= 0 for v in values)):
                raise ValueError(f"{name} needs one positive number per class {TAG_NAMES}, got {values!r}")
        # a bad step fails here, with the recipe, not at the first batch (the real vocabulary comes from the tokenizer)
        TaggedNoise(self.tag_noise, vocabulary=("word",))
        self.class_weights = None if self.class_weights is None else [float(v) for v in self.class_weights]
        super().__post_init__(**kwargs)

    @classmethod
    def default_noise(cls) -> list[dict]:
        return DEFAULT_TAG_NOISE  # text-level steps: the raw text stays beside the ids


def whole_words(tokenizer) -> tuple[str, ...]:
    """The words of letters (two or more) that the tokenizer reads as one token of its vocabulary,
    sorted: the words ``replace_words`` draws from. Tokens are decoded first, so that a byte-level
    BPE's "Ġword" or a WordPiece's "##ing" counts as the text it stands for."""
    specials = set(tokenizer.all_special_tokens)
    decoded = {tokenizer.convert_tokens_to_string([t]).strip() for t in tokenizer.get_vocab() if t not in specials}
    words = sorted(w for w in decoded if w.isalpha() and len(w) > 1)
    ids = tokenizer(words, add_special_tokens=False)["input_ids"] if words else []
    return tuple(w for w, x in zip(words, ids) if len(x) == 1)


@dataclass
class TextTaggerOutput(ModelOutput):
    """loss: weighted ``loss_terms`` (None without ``tag_labels``); logits [B, T, 5]: the class
    scores of each token; tag_labels [B, T]: the targets (-100 ignored); loss_terms / stats: named
    scalars to log."""

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    tag_labels: torch.LongTensor | None = None
    loss_terms: dict | None = None
    stats: dict | None = None


class TextTagger(TextEncoderOnlyModel):
    """``input_ids`` [B, T] = [BOS] corrupt(x) [EOS], ``attention_mask`` [B, T], ``tag_labels`` [B, T]
    (the collator's; ``labels``, the clean text, is not used)."""

    config_class = TextTaggerConfig
    operations = frozenset({protocol.EXPORT_HF_ENCODER, protocol.TAG})

    def __init__(self, config: TextTaggerConfig):
        super().__init__(config)
        self.tagging_head = DetectionHead(self.encoder.hidden_size, len(TAG_NAMES))
        self.check_loss_weights()
        self.post_init()
        if config.head_bias_init == "prior":  # after post_init, which zeroes biases
            self.tagging_head.start_at_priors(torch.tensor(config.tag_priors or DEFAULT_TAG_PRIORS))

    def loss_term_names(self) -> set[str]:
        return {"tagging"}

    def batch_spec(self, loss_weights=None) -> protocol.BatchSpec:
        return protocol.BatchSpec(format=self.batch_format, tag_noise=self.config.tag_noise, tag_vocabulary=whole_words(self._require_tokenizer()))

    def forward(self, input_ids, attention_mask=None, tag_labels=None, labels=None, loss_weights=None, return_dict=None, output_attentions=None, output_hidden_states=None) -> TextTaggerOutput:
        mask = attention_mask if attention_mask is not None else (input_ids != self.config.pad_token_id).long()
        logits = self.tagging_head(self.encoder(input_ids, mask).states)
        if tag_labels is None:
            return TextTaggerOutput(logits=logits)
        # padding is never a target, whatever fills tag_labels there
        targets = tag_labels.masked_fill(~mask.bool(), IGNORE_INDEX)
        terms = {"tagging": self._cross_entropy(logits, targets)}
        return TextTaggerOutput(loss=self.combine_losses(terms, loss_weights), logits=logits, tag_labels=targets, loss_terms=terms, stats=self._stats(logits, targets))

    def _cross_entropy(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        weight = None if self.config.class_weights is None else torch.tensor(self.config.class_weights, dtype=torch.float32, device=logits.device)
        valid = targets != IGNORE_INDEX
        if not valid.any():
            return logits.sum() * 0.0
        return F.cross_entropy(logits[valid].float(), targets[valid], weight=weight)

    @torch.no_grad()
    def _stats(self, logits: torch.Tensor, targets: torch.Tensor) -> dict[str, torch.Tensor]:
        valid = targets != IGNORE_INDEX
        hits = logits.argmax(-1)[valid] == targets[valid]
        corrupted = targets[valid] != 0
        return {
            "tagging_accuracy": hits.float().mean() if hits.numel() else torch.tensor(0.0),
            "corrupted_share": corrupted.float().mean() if hits.numel() else torch.tensor(0.0),
        }

    # ---- use ----------------------------------------------------------------------------------
    @torch.no_grad()
    def tag(self, texts: list[str], batch_size: int = 64) -> list[list[tuple[str, str]]]:
        """Each text's tokens (their characters in the text) with the predicted class name."""
        from ..data.tokenization import encode_with_offsets
        from ..tensors import pad_sequences

        tokenizer, c = self._require_tokenizer(), self.config
        device = next(self.parameters()).device
        out = []
        for start in range(0, len(texts), batch_size):
            chunk = texts[start : start + batch_size]
            ids, offsets = encode_with_offsets(tokenizer, chunk, c.max_seq_length)
            input_ids, mask = pad_sequences([[c.bos_token_id, *x, c.eos_token_id] for x in ids], c.pad_token_id)
            predicted = self(input_ids.to(device), mask.to(device)).logits.argmax(-1).cpu()
            for text, spans, row in zip(chunk, offsets, predicted):
                out.append([(text[a:b], TAG_NAMES[int(k)]) for (a, b), k in zip(spans, row[1:])])
        return out

    # ---- evaluation ---------------------------------------------------------------------------
    def extra_metrics(self, dataloader, max_batches: int | None = None, iw_samples: int | None = None) -> dict:
        """Per-class precision / recall / F1 and macro-F1 over ``dataloader``'s corrupted sentences
        (fixed seeds at evaluation): :func:`textae.metrics.tagging.tagging_report`."""
        from ..metrics.tagging import tagging_report

        return {"tagging": tagging_report(self, dataloader, max_batches)}

    def metric_lines(self, metrics: dict) -> list[str]:
        from ..metrics.tagging import score_lines

        report = metrics.get("tagging")
        return score_lines(report) if report else []
