"""ELECTRA: replaced-token detection (Clark et al. 2020, https://arxiv.org/abs/2003.10555), and its
insertion extension.

A small masked LM, the **generator**, predicts the masked tokens (15% by default) of ``[BOS] x [EOS]``
and its samples (temperature 1) replace them; the **discriminator**, any HF encoder with a per-token
head, tells each token original or replaced. The loss is ``mlm`` (the generator's MLM
cross-entropy on the masked tokens) + λ·``rtd`` (the discriminator's cross-entropy over the tokens),
λ = 50 by default. Both read the same token embeddings (the generator projects them to its smaller
width, as ELECTRA does). The samples are discrete, so no gradient of the discriminator's loss reaches
the generator through them; a sample equal to the original counts as original.

Insertion mode (``insertion_rate`` > 0) then inserts meaning-neutral tokens (punctuation, emoji and
space characters of :data:`textae.noise.INSERTABLE_CHARACTERS` that are tokens of the tokenizer) at
random places, and the head labels each token original / replaced / inserted.

The masked-LM baseline of the same encoder is its own family, :mod:`.mlm` (``family: mlm``; the old
``objective: mlm`` of this family still builds and loads it, with a FutureWarning). Both stand on
:mod:`.encoder_only`, whose :meth:`~.encoder_only.TextEncoderOnlyModel.export_hf_encoder` writes the
encoder as a plain HF checkpoint (``AutoModel`` / ``AutoModelForSequenceClassification``).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoModel, ElectraConfig, PretrainedConfig
from transformers.utils import ModelOutput

from ..noise import INSERTABLE_CHARACTERS
from ..noise.electra import (
    INSERTED,
    ORIGINAL,
    REPLACED,
    RTD_CLASSES,
    insert_tokens,
    replace_and_label,
    sample_tokens,
    select_masked,
    uniform_tokens,
)
from ..tensors import IGNORE_INDEX
from .encoder_only import MaskedLMHead, TextEncoderOnlyConfig, TextEncoderOnlyModel, masked_cross_entropy, renamed_terms, with_sentence_template

__all__ = ["INSERTED", "MaskedLMHead", "TextElectra", "TextElectraConfig", "TextElectraOutput", "insertable_token_ids", "rtd_class_priors", "with_sentence_template"]

OBJECTIVES = ("electra", "mlm")  # "mlm": the old spelling of family mlm, kept so old recipes and configs still run
REPLACEMENTS = ("generator", "uniform")
HEAD_BIAS_INITS = ("prior", "zero")
ELECTRA_RTD_WEIGHT = 50.0
"""λ of the paper: the discriminator's loss weighs 50 times the generator's."""
# settings of this family that the masked LM has no use for
ELECTRA_ONLY = (
    "objective", "replacement", "shared_embeddings", "generator_size", "generator_config", "sampling_temperature",
    "insertion_rate", "insertion_lang", "insertion_token_ids", "insertion_add_tokens", "head_bias_init",
)
LEGACY_MLM_WARNING = "model.family electra with objective 'mlm' is now model.family 'mlm' (textae.models.mlm.TextMLM); write family: mlm"


def legacy_mlm_config(settings: dict):
    """A :class:`~textae.models.mlm.TextMLMConfig` from the settings of an ELECTRA config with
    ``objective: mlm`` (a recipe or a saved config.json from before the masked LM was its own family)."""
    from .mlm import TextMLMConfig

    drop = {*ELECTRA_ONLY, "model_type", "architectures", "transformers_version"}
    return TextMLMConfig(**{k: v for k, v in settings.items() if k not in drop})


class TextElectraConfig(TextEncoderOnlyConfig):
    """ELECTRA pretraining of any HF encoder (with the settings of :class:`TextEncoderOnlyConfig`:
    ``encoder_config`` is the discriminator, ``mask_rate`` the share of tokens the generator fills).

    Args:
        objective: "electra"; the old "mlm" builds the masked-LM family (``family: mlm``) instead.
        replacement: where the replacements come from: "generator" (samples of the small masked LM,
            ELECTRA) or "uniform" (drawn uniformly from the non-special vocabulary, no generator: a
            control whose replacements are easy to spot).
        shared_embeddings: what the generator shares with the discriminator: "word" (the token
            embeddings) or "all" (the whole embedding block: tokens, positions, token types and the
            embedding LayerNorm, as ELECTRA's code shares them).
        generator_size: the generator's hidden size, intermediate size and head count as a fraction of
            the discriminator's (ELECTRA's 1/4); same depth.
        generator_config: ``transformers.ElectraConfig`` fields overriding the derived generator.
        sampling_temperature: temperature of the generator's samples.
        insertion_rate: per gap between two tokens, the probability of inserting one token (0 = off).
        insertion_lang: the language whose insertable characters are used ("en" / "zh").
        insertion_token_ids: the ids inserted; filled from the tokenizer when a recipe is built.
        insertion_add_tokens: when the tokenizer lacks one of those characters (an emoji, the
            zero-width space), add it as a token when the recipe is built.
        loss_weights: weight of each term over its default, ``mlm`` (the generator's, 1; once called
            ``reconstruction``) and ``rtd`` (50).
        head_bias_init: the detection head's output bias at init: "prior" (the log of each class's
            expected share, :func:`rtd_class_priors`) or "zero". Only ~15% of the tokens are
            replaced; from a zero bias the loss first asks for that base rate everywhere, and Adam,
            which moves every parameter at the same pace, has the whole encoder produce it: the token
            states of a sentence collapse onto one vector (cosine ≈ 1 between positions) and the
            discriminator stays at the base rate, blind to context. Starting at the prior removes that
            pull (the RetinaNet prior initialisation, Lin et al. 2017).
    """

    model_type = "textae_electra"

    objective: str = "electra"
    replacement: str = "generator"
    shared_embeddings: str = "word"
    generator_size: float = 0.25
    generator_config: dict | None = None
    sampling_temperature: float = 1.0
    insertion_rate: float = 0.0
    insertion_lang: str = "en"
    insertion_token_ids: list | None = None
    insertion_add_tokens: bool = True
    head_bias_init: str = "prior"

    def __post_init__(self, **kwargs):
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {self.objective!r}")
        if self.shared_embeddings not in ("word", "all"):
            raise ValueError(f"shared_embeddings must be 'word' or 'all', got {self.shared_embeddings!r}")
        if self.head_bias_init not in HEAD_BIAS_INITS:
            raise ValueError(f"head_bias_init must be one of {HEAD_BIAS_INITS}, got {self.head_bias_init!r}")
        if self.replacement not in REPLACEMENTS:
            raise ValueError(f"replacement must be one of {REPLACEMENTS}, got {self.replacement!r}")
        if not 0.0 <= self.insertion_rate <= 1.0:
            raise ValueError(f"insertion_rate must be in [0, 1], got {self.insertion_rate}")
        if not 0.0 < self.generator_size <= 1.0:
            raise ValueError(f"generator_size must be in (0, 1], got {self.generator_size}")
        if self.insertion_rate > 0 and self.objective != "electra":
            raise ValueError("insertion_rate > 0 needs objective 'electra' (the discriminator labels the inserted tokens)")
        if self.insertion_rate > 0 and not self.insertion_token_ids:
            raise ValueError("insertion_rate > 0 needs insertion_token_ids (filled from the tokenizer when a recipe is built)")
        self.generator_config = dict(self.generator_config or {})
        self.insertion_token_ids = [int(i) for i in (self.insertion_token_ids or [])]
        if self.objective == "electra":  # saved with the config, as it always was
            self.loss_weights = {"rtd": ELECTRA_RTD_WEIGHT, **renamed_terms(self.loss_weights, "model.loss_weights")}
        super().__post_init__(**kwargs)

    @classmethod
    def from_dict(cls, config_dict: dict, **kwargs):
        """A saved config of ``objective: mlm`` loads as the masked-LM family's (with a FutureWarning)."""
        if config_dict.get("objective") == "mlm":
            warnings.warn(LEGACY_MLM_WARNING, FutureWarning, stacklevel=2)
            from .mlm import TextMLMConfig

            settings = {k: v for k, v in config_dict.items() if k not in ELECTRA_ONLY}
            return TextMLMConfig.from_dict({**settings, "model_type": TextMLMConfig.model_type}, **kwargs)
        return super().from_dict(config_dict, **kwargs)

    @property
    def num_rtd_classes(self) -> int:
        return 3 if self.insertion_rate > 0 else 2

    @classmethod
    def settings_from_tokenizer(cls, tokenizer, settings: dict) -> dict:
        """Recipe building: the ids of the insertable characters, when insertion is on."""
        if float(settings.get("insertion_rate", 0.0) or 0.0) > 0 and not settings.get("insertion_token_ids"):
            ids = insertable_token_ids(tokenizer, settings.get("insertion_lang", "en"), settings.get("insertion_add_tokens", True))
            settings = {**settings, "insertion_token_ids": ids}
        return settings

def insertable_token_ids(tokenizer, lang: str = "en", add_missing: bool = False) -> list[int]:
    """Ids of the tokenizer's tokens for :data:`textae.noise.INSERTABLE_CHARACTERS` (punctuation,
    emoji, zero-width / ideographic space) and the plain space, each kept when the character alone
    encodes to one known token. With ``add_missing`` the non-whitespace characters that do not are
    added to the tokenizer as new tokens (``len(tokenizer)`` grows: build the model after this)."""
    if lang not in INSERTABLE_CHARACTERS:
        raise ValueError(f"insertion_lang must be one of {sorted(INSERTABLE_CHARACTERS)}, got {lang!r}")
    found, missing = set(), []
    for ch in sorted(INSERTABLE_CHARACTERS[lang] | {" "}):
        ids = tokenizer(ch, add_special_tokens=False)["input_ids"]
        if len(ids) == 1 and ids[0] != tokenizer.unk_token_id and ids[0] not in tokenizer.all_special_ids:
            found.add(ids[0])
        elif ch.strip():
            missing.append(ch)
    if add_missing and missing:
        tokenizer.add_tokens(missing)
        found.update(tokenizer.convert_tokens_to_ids(missing))
    if not found:
        raise ValueError(f"the tokenizer has no token for any insertable character of {lang!r}; set insertion_add_tokens: true")
    return sorted(found)


def rtd_class_priors(config: TextElectraConfig) -> torch.Tensor:
    """Expected share of each detection class among the labelled tokens at init: replaced
    ``mask_rate`` (an untrained generator, like uniform draws, almost never samples the original) and,
    in insertion mode, inserted ``r / (1 + r)`` with the replaced share scaled by ``1 / (1 + r)``."""
    r = config.insertion_rate
    replaced, inserted = config.mask_rate / (1 + r), r / (1 + r)
    shares = [1 - replaced - inserted, replaced] + ([inserted] if config.num_rtd_classes == 3 else [])
    return torch.tensor(shares).clamp(1e-4, 1.0)


def _same_shapes(a: nn.Module, b: nn.Module) -> bool:
    return [p.shape for p in a.parameters()] == [p.shape for p in b.parameters()]


def generator_config(config: TextElectraConfig, discriminator: PretrainedConfig, embeddings: nn.Embedding) -> ElectraConfig:
    """The generator: an ELECTRA encoder as deep as the discriminator, its width, FFN size and head
    count scaled by ``generator_size`` (as the ELECTRA code does), reading the shared embeddings."""
    ratio = config.generator_size
    hidden = max(1, round(discriminator.hidden_size * ratio))
    heads = max(1, int(discriminator.num_attention_heads * ratio))
    if hidden % heads:
        heads = 1
    intermediate = getattr(discriminator, "intermediate_size", None) or 4 * discriminator.hidden_size
    spec = {
        "vocab_size": embeddings.num_embeddings,
        "embedding_size": embeddings.embedding_dim,
        "hidden_size": hidden,
        "num_hidden_layers": discriminator.num_hidden_layers,
        "num_attention_heads": heads,
        "intermediate_size": max(1, round(intermediate * ratio)),
        "max_position_embeddings": getattr(discriminator, "max_position_embeddings", None) or 512,
        "hidden_dropout_prob": getattr(discriminator, "hidden_dropout_prob", 0.1),
        "attention_probs_dropout_prob": getattr(discriminator, "attention_probs_dropout_prob", 0.1),
        "pad_token_id": config.pad_token_id,
    }
    spec.update(config.generator_config)
    return ElectraConfig(**spec)


class DetectionHead(nn.Module):
    """Token states [B, T, H] → class logits [B, T, C] (ELECTRA's discriminator head)."""

    def __init__(self, hidden_size: int, num_classes: int):
        super().__init__()
        self.dense = nn.Linear(hidden_size, hidden_size)
        self.out = nn.Linear(hidden_size, num_classes)

    @torch.no_grad()
    def start_at_priors(self, priors: torch.Tensor) -> None:
        """Output bias = log priors: the untrained head already predicts each class's base rate."""
        self.out.bias.copy_(priors.log().to(self.out.bias))

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        return self.out(F.gelu(self.dense(states)))


@dataclass
class TextElectraOutput(ModelOutput):
    """loss: weighted sum of ``loss_terms``; logits: the discriminator's [B, T', C]; rtd_labels: its targets [B, T'] (0 original, 1 replaced, 2 inserted,
    -100 ignored; ``labels`` is the old name, kept with a FutureWarning); input_ids / attention_mask: what the discriminator read [B, T']; mlm_logits [N, V]
    and mlm_labels [N]: the masked-LM predictions and the original tokens at the N masked positions;
    loss_terms / stats: named scalars to log."""

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    rtd_labels: torch.LongTensor | None = None
    input_ids: torch.LongTensor | None = None
    attention_mask: torch.LongTensor | None = None
    mlm_logits: torch.FloatTensor | None = None
    mlm_labels: torch.LongTensor | None = None
    loss_terms: dict | None = None
    stats: dict | None = None

    @property
    def labels(self) -> torch.LongTensor | None:
        # ``labels`` names decoder targets everywhere else in textae
        warnings.warn("TextElectraOutput.labels is now rtd_labels", FutureWarning, stacklevel=2)
        return self.rtd_labels


def batch_auc(scores: torch.Tensor, positive: torch.Tensor) -> torch.Tensor:
    """ROC AUC of ``scores`` for ``positive`` (Mann–Whitney, ties averaged); 0.5 when a class is absent."""
    from ..metrics.electra import roc_auc

    value = roc_auc(scores, positive)
    return torch.tensor(0.5 if value != value else value)


class TextElectra(TextEncoderOnlyModel):
    """ELECTRA pretraining: ``input_ids`` [B, T] = [BOS] x [EOS] (padded), ``attention_mask`` [B, T];
    ``self.encoder`` is the discriminator. ``export_hf_encoder(OUT)`` writes it for
    ``AutoModelForSequenceClassification``.
    """

    config_class = TextElectraConfig

    def __new__(cls, config=None, *args, **kwargs):
        # the old objective "mlm" of this family: build the masked-LM family instead
        from .mlm import TextMLM, TextMLMConfig

        if isinstance(config, TextElectraConfig) and config.objective == "mlm":
            warnings.warn(LEGACY_MLM_WARNING, FutureWarning, stacklevel=2)
            return TextMLM(legacy_mlm_config(config.to_dict()), *args, **kwargs)
        if isinstance(config, TextMLMConfig):  # TextElectra.from_pretrained of a folder that loads as the masked LM
            return TextMLM(config, *args, **kwargs)
        return super().__new__(cls)

    def metric_lines(self, metrics: dict) -> list[str]:
        electra = metrics.get("electra")
        if not electra:
            return []
        return ["ELECTRA: " + ", ".join(f"{k} {v:.4f}" for k, v in electra.items() if k.startswith(("rtd_", "auc_", "accuracy_", "mlm_")))]

    def __init__(self, config: TextElectraConfig):
        super().__init__(config)
        embeddings = self.encoder.get_input_embeddings()
        if config.insertion_token_ids and max(config.insertion_token_ids) >= embeddings.num_embeddings:
            raise ValueError(
                f"insertion token id {max(config.insertion_token_ids)} is outside the encoder's {embeddings.num_embeddings} "
                "embeddings (a pretrained encoder keeps its vocabulary): set insertion_add_tokens: false"
            )
        if self.uses_generator:
            gen_config = generator_config(config, self.encoder.model.config, embeddings)
            self.generator = AutoModel.from_config(gen_config)
            self.generator_head = MaskedLMHead(gen_config.hidden_size, embeddings.embedding_dim, embeddings.num_embeddings)
        self.detection_head = DetectionHead(self.encoder.hidden_size, config.num_rtd_classes)
        self.check_loss_weights()
        self.post_init()
        if config.head_bias_init == "prior":
            self.detection_head.start_at_priors(rtd_class_priors(config))  # after post_init, which zeroes biases
        if self.uses_generator:
            self._share_embeddings(embeddings)

    @property
    def uses_generator(self) -> bool:
        return self.config.replacement == "generator"

    def _share_embeddings(self, embeddings: nn.Embedding) -> None:
        """The generator reads the discriminator's token embeddings (``shared_embeddings: word``) or
        its whole embedding block, positions, token types and LayerNorm too (``all``, as ELECTRA's code
        does); recorded as ties so that safetensors stores them once and ``from_pretrained`` shares
        them again."""
        self.generator.set_input_embeddings(embeddings)
        if self.config.shared_embeddings == "all":
            disc, gen = self.encoder.model.embeddings, self.generator.embeddings
            for name in ("position_embeddings", "token_type_embeddings", "LayerNorm"):
                if hasattr(disc, name) and hasattr(gen, name) and _same_shapes(getattr(disc, name), getattr(gen, name)):
                    setattr(gen, name, getattr(disc, name))
        sources = {id(p): name for name, p in self.named_parameters() if not name.startswith("generator.")}
        ties = {f"generator.{n}": sources[id(p)] for n, p in self.generator.named_parameters(remove_duplicate=False) if id(p) in sources}
        self.all_tied_weights_keys.update(ties)
        self._tied_weights_keys = {**(type(self)._tied_weights_keys or {}), **ties}

    def loss_term_names(self) -> set[str]:
        return {"mlm", "rtd"} if self.uses_generator else {"rtd"}

    def default_loss_weights(self) -> dict[str, float]:
        return {name: ELECTRA_RTD_WEIGHT if name == "rtd" else 1.0 for name in self.loss_term_names()}

    def masked_lm_predictions(self, output: TextElectraOutput):
        return output.mlm_logits, output.mlm_labels

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        loss_weights: dict[str, float] | None = None,
        return_dict: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
    ) -> TextElectraOutput:
        c = self.config
        mask, rng, candidates = self.mask_candidates(input_ids, attention_mask)
        masked = select_masked(candidates, c.mask_rate, rng)
        mlm_labels = input_ids[masked]
        specials = self.special_ids()
        weight = self.get_input_embeddings().weight
        terms, mlm_logits = {}, None
        if self.uses_generator:
            gen_input = input_ids.masked_fill(masked, c.mask_token_id)
            gen_states = self.generator(input_ids=gen_input, attention_mask=mask).last_hidden_state
            mlm_logits = self.generator_head(gen_states[masked], weight)
            terms["mlm"] = masked_cross_entropy(mlm_logits, mlm_labels)
            samples = sample_tokens(mlm_logits, c.sampling_temperature, specials, rng)
        else:
            samples = uniform_tokens(int(masked.sum()), weight.shape[0], specials, rng, input_ids.device)
        corrupted, rtd_labels = replace_and_label(input_ids, candidates, masked, samples)
        disc_mask = mask
        if c.insertion_rate > 0:
            limit = getattr(self.encoder.model.config, "max_position_embeddings", None)
            corrupted, disc_mask, rtd_labels = insert_tokens(
                corrupted, mask, rtd_labels, c.insertion_rate, c.insertion_token_ids, c.pad_token_id, limit, rng
            )
        logits = self.detection_head(self.encoder(corrupted, disc_mask).states)
        valid = rtd_labels != IGNORE_INDEX
        terms["rtd"] = F.cross_entropy(logits[valid].float(), rtd_labels[valid], reduction="sum") / valid.sum().clamp(min=1)
        return TextElectraOutput(
            loss=self.combine_losses(terms, loss_weights),
            logits=logits,
            rtd_labels=rtd_labels,
            input_ids=corrupted,
            attention_mask=disc_mask,
            mlm_logits=mlm_logits,
            mlm_labels=mlm_labels,
            loss_terms=terms,
            stats=self._stats(logits, rtd_labels, mlm_logits, mlm_labels),
        )

    @torch.no_grad()
    def _stats(self, logits, rtd_labels, mlm_logits, mlm_labels) -> dict[str, torch.Tensor]:
        """Per-batch measures the loop logs (a class absent from the batch counts 0 accuracy, AUC 0.5)."""
        n_masked = max(1, mlm_labels.numel())
        stats = {} if mlm_logits is None else {"mlm_accuracy": (mlm_logits.argmax(-1) == mlm_labels).sum().float() / n_masked}
        valid = rtd_labels != IGNORE_INDEX
        target, probs = rtd_labels[valid], logits[valid].float().softmax(-1)
        hit = probs.argmax(-1) == target
        stats["rtd_accuracy"] = hit.float().mean() if target.numel() else torch.tensor(0.0)
        stats["rtd_auc"] = batch_auc(1.0 - probs[:, ORIGINAL], target != ORIGINAL)
        stats["replaced_share"] = (target == REPLACED).sum().float() / n_masked
        for index in range(self.config.num_rtd_classes):
            of_class = target == index
            stats[f"accuracy_{RTD_CLASSES[index]}"] = (hit & of_class).sum().float() / of_class.sum().clamp(min=1)
        return stats

    def extra_metrics(self, dataloader, max_batches: int | None = None, iw_samples: int | None = None) -> dict:
        """RTD accuracy / AUC, per-class accuracy and generator MLM accuracy over ``dataloader``: see
        :func:`textae.metrics.electra.electra_report` (``iw_samples`` is the VAE's and unused here)."""
        from ..metrics.electra import electra_report

        return {"electra": electra_report(self, dataloader, max_batches=max_batches)}
