"""The composable core every textae family is built from.

``x → corrupt → encode → bottleneck → decode → x̂``: :class:`TextAutoencoderModel` composes a
:class:`SentenceEncoder`, a registered :class:`Bottleneck` and a :class:`LatentDecoder`; a family is a
config subclass (its ``model_type`` and defaults) plus a few lines. :class:`TextLM` is the same
decoder with no latent, so NLL comparisons against it are fair.

Sequence convention (the collator builds it): ``labels = [BOS] x [EOS]`` padded with -100; the
decoder reads ``labels[:, :-1]`` and predicts ``labels[:, 1:]``. The encoder reads ``input_ids`` (x,
possibly corrupted). For :class:`TextLM`, ``input_ids`` and ``labels`` are both ``[BOS] x [EOS]``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import AutoTokenizer, GenerationMixin, PretrainedConfig, PreTrainedModel
from transformers.utils import ModelOutput

from ..inputs import as_texts, check_latent
from ..tensors import IGNORE_INDEX, pad_sequences
from ..modules import BottleneckOutput, LatentDecoder, SentenceEncoder, build_bottleneck
from ..modules.conditioning import LabelConditioning
from ..safe_loading import refuse_pickled_weights
from .hf import eval_mode
from . import protocol
from .protocol import BatchSpec, FamilyProtocol
from .losses import cosine_distance, resolve_loss_weights, token_cross_entropy, weighted_sum


logger = logging.getLogger(__name__)


DEFAULT_ENCODER = {
    "model_type": "bert",
    "hidden_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 256,
    "max_position_embeddings": 128,
}
DEFAULT_DECODER = {
    "model_type": "gpt2",
    "n_embd": 128,
    "n_layer": 2,
    "n_head": 4,
    "n_positions": 128,
}


def _num_layers(spec: dict) -> int:
    return int(spec.get("num_hidden_layers") or spec.get("n_layer") or 1)


class TextAEBaseConfig(PretrainedConfig):
    """Settings shared by every textae model (token ids, the decoder, the length limit).

    Args:
        vocab_size: the tokenizer's vocabulary size.
        decoder_config: HF causal-LM config as a dict with ``model_type`` (tiny GPT-2 by default).
        max_seq_length: token limit of a sentence (longer ones are truncated).
    """

    model_type = "textae_base"

    vocab_size: int = 1000
    decoder_config: dict | None = None
    max_seq_length: int = 64
    pad_token_id: int | None = 0
    unk_token_id: int | None = 1
    bos_token_id: int | None = 2
    eos_token_id: int | None = 3
    mask_token_id: int | None = 4
    initializer_range: float = 0.02
    use_cache: bool = True
    tie_word_embeddings: bool = True

    @classmethod
    def settings_from_tokenizer(cls, tokenizer, settings: dict) -> dict:
        """The recipe's model ``settings`` completed with what this family reads off the tokenizer."""
        return settings

    @classmethod
    def default_noise(cls) -> list[dict] | None:
        """The family's input corruption when the recipe names none."""
        return None

    def __post_init__(self, **kwargs):
        self.decoder_config = dict(self.decoder_config or DEFAULT_DECODER)
        kwargs.pop("num_hidden_layers", None)
        # generate() sizes its KV cache from this
        self.num_hidden_layers = _num_layers(self.decoder_config)
        super().__post_init__(**kwargs)


class TextAutoencoderConfig(TextAEBaseConfig):
    """An encoder, a bottleneck and a latent-conditioned decoder.

    Args:
        encoder_config: HF encoder config as a dict with ``model_type`` (tiny BERT by default).
        pooling: "mean", "cls" or "attention".
        latent_dim: size d of the sentence latent z (None: the encoder's hidden size).
        bottleneck: a registered bottleneck name (the family's default when None).
        bottleneck_options: keyword options of that bottleneck.
        memory_slots: K memory slots projected from z for cross-attention (0 = off).
        inject_embedding: add a projection of z to every decoder input embedding.
        loss_weights: the default weight of each loss term; the training loop may override per step.
        reconstruction_reduction: "token" (mean NLL per token) or "sentence" (mean NLL per sentence,
            the scale at which a KL per sentence makes the ELBO).
        word_dropout: share of decoder input tokens replaced by [UNK] while training (Bowman et al. 2016).
        noise: corruption of the encoder's input, a list of :class:`textae.noise.NoisePipeline` specs
            (``[{"name": "delete_tokens", "rate": 0.6}]``) that the collator applies afresh each epoch;
            the decoder always targets the clean text.
        embedding_noise: white noise on the encoder's token embeddings while training, std relative to
            each embedding's RMS.
        latent_dropout / latent_dropout_kind: dropout on the encoder's token states [B, T, H] before
            pooling while training: "standard" (each element) or "spatial" (whole channels).
        encoder_prefix_ids / encoder_suffix_ids: special tokens around the encoder's input, the
            tokenizer's own template (BERT: [CLS] x [SEP]); empty for tokenizers textae trains.
        tie_encoder_decoder: share every decoder weight that has a same-named, same-shaped
            counterpart in the encoder (BERT as decoder tied to the BERT encoder, as TSDAE does);
            cross-attention and the LM head's transform stay the decoder's own.
    """

    model_type = "textae_base_autoencoder"
    default_bottleneck = "identity"

    encoder_config: dict | None = None
    pooling: str = "mean"
    latent_dim: int | None = 64
    bottleneck: str | None = None
    bottleneck_options: dict | None = None
    memory_slots: int = 4
    inject_embedding: bool = True
    loss_weights: dict | None = None
    reconstruction_reduction: str = "token"
    word_dropout: float = 0.0
    noise: list | None = None
    embedding_noise: float = 0.0
    latent_dropout: float = 0.0
    latent_dropout_kind: str = "standard"
    encoder_prefix_ids: list | None = None
    encoder_suffix_ids: list | None = None
    tie_encoder_decoder: bool = False

    @classmethod
    def settings_from_tokenizer(cls, tokenizer, settings: dict) -> dict:
        # the encoder reads x in the tokenizer's own template ([CLS] x [SEP] for a BERT tokenizer)
        from ..data.tokenization import special_template

        prefix, suffix = special_template(tokenizer)
        return {"encoder_prefix_ids": prefix, "encoder_suffix_ids": suffix, **settings}

    def __post_init__(self, **kwargs):
        if self.reconstruction_reduction not in ("token", "sentence"):
            raise ValueError(f"reconstruction_reduction must be 'token' or 'sentence', got {self.reconstruction_reduction!r}")
        if not 0.0 <= self.word_dropout < 1.0:
            raise ValueError(f"word_dropout must be in [0, 1), got {self.word_dropout}")
        self.encoder_config = dict(self.encoder_config or DEFAULT_ENCODER)
        # an encoder built from a config reads the tokenizer's ids (a pretrained one keeps its own size)
        self.encoder_config.setdefault("vocab_size", self.vocab_size)
        self.bottleneck = self.bottleneck or self.default_bottleneck
        self.bottleneck_options = dict(self.bottleneck_options or {})
        self.loss_weights = dict(self.loss_weights or {})
        self.noise = [dict(step) for step in (self.noise or [])]
        self.encoder_prefix_ids = list(self.encoder_prefix_ids or [])
        self.encoder_suffix_ids = list(self.encoder_suffix_ids or [])
        super().__post_init__(**kwargs)


@dataclass
class TextAEOutput(ModelOutput):
    """Output of every autoencoder family.

    loss: weighted sum of ``loss_terms``; reconstruction_loss: mean token cross-entropy (nats);
    logits: [B, T, V]; latent: [B, d] or [B, L, d]; loss_terms / stats: named scalars to log;
    cache: the decoder's KV cache during generation.
    """

    loss: torch.FloatTensor | None = None
    reconstruction_loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    latent: torch.FloatTensor | None = None
    loss_terms: dict | None = None
    stats: dict | None = None
    cache: object | None = None


@dataclass
class TextLMOutput(ModelOutput):
    """loss: mean next-token cross-entropy (nats); logits: [B, T, V]."""

    loss: torch.FloatTensor | None = None
    reconstruction_loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    loss_terms: dict | None = None
    stats: dict | None = field(default=None)
    cache: object | None = None


def decoder_io(labels: torch.Tensor, pad_token_id: int):
    """From labels [B, T] = [BOS] x [EOS] (-100 padded): decoder inputs, their mask, and targets."""
    inputs = labels[:, :-1].masked_fill(labels[:, :-1] == IGNORE_INDEX, pad_token_id)
    mask = (labels[:, :-1] != IGNORE_INDEX).long()
    return inputs, mask, labels[:, 1:]


class TextAEModelBase(PreTrainedModel, GenerationMixin, FamilyProtocol):
    """Shared plumbing: weight init, the tokenizer saved beside the weights, batching texts."""

    config_class = TextAEBaseConfig
    base_model_prefix = "textae"
    main_input_name = "input_ids"
    # activation_checkpointing_enable() reaches every HF backbone inside (encoder, decoder, generator)
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    _can_compile_fullgraph = False

    tokenizer = None  # attached by from_pretrained when the folder holds one, or by the user

    def save_pretrained(self, save_directory, *args, **kwargs):
        super().save_pretrained(save_directory, *args, **kwargs)
        if self.tokenizer is not None:
            self.tokenizer.save_pretrained(save_directory)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        """As transformers loads it, plus the tokenizer saved beside it. A local folder without
        weights, with an unreadable weights file, or whose tokenizer does not fit the model's
        vocabulary is an error that names the file."""
        folder = Path(str(pretrained_model_name_or_path))
        local = folder.is_dir()
        refuse_pickled_weights(folder)  # weights only from safetensors: a pickle can run code when read
        kwargs.setdefault("use_safetensors", True)
        if local and not any(any(folder.glob(pattern)) for pattern in ("*.safetensors", "*.bin", "*.safetensors.index.json")):
            raise FileNotFoundError(f"no model weights in {folder}: expected {folder / 'model.safetensors'}")
        try:
            model = super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)
        except Exception as err:
            if not local or "safetensors" not in type(err).__module__ + str(err).lower() + type(err).__name__.lower():
                raise
            raise ValueError(f"model weights in {folder} are unreadable (corrupt or truncated {folder / 'model.safetensors'}?): {err}") from None
        if local and ((folder / "tokenizer.json").exists() or (folder / "tokenizer_config.json").exists()):
            model.tokenizer = AutoTokenizer.from_pretrained(str(folder))
            model.check_tokenizer(model.tokenizer, where=str(folder))
        return model

    def check_tokenizer(self, tokenizer, where: str = "the tokenizer") -> None:
        """Raises ValueError when ``tokenizer`` cannot be this model's: ids past the vocabulary, or
        special tokens (PAD / BOS / EOS) with other ids than the model was trained with."""
        c = self.config
        if len(tokenizer) > c.vocab_size:
            raise ValueError(f"{where}: the tokenizer has {len(tokenizer)} tokens but the model's vocabulary has {c.vocab_size}; it is not this model's tokenizer")
        for name in ("pad", "bos", "eos"):
            mine, theirs = getattr(c, f"{name}_token_id"), getattr(tokenizer, f"{name}_token_id")
            if theirs is not None and mine is not None and theirs != mine:
                raise ValueError(f"{where}: the tokenizer's {name.upper()} id is {theirs} but the model's is {mine}; it is not this model's tokenizer")

    def loss_items(self, batch: dict) -> int:
        """How many items this model's loss averages over in ``batch``: its predicted tokens (targets
        ``labels[:, 1:]`` other than -100). The loop weighs each micro-batch of an accumulated or
        multi-process step by it, so the step's gradient is that of one batch holding them all."""
        return int((batch["labels"][:, 1:] != IGNORE_INDEX).sum())

    def loss_term_names(self) -> set[str]:
        return {"reconstruction"}

    def default_loss_weights(self) -> dict[str, float]:
        """Each loss term of the family with its default weight (see :mod:`textae.models.losses`)."""
        return {name: 1.0 for name in self.loss_term_names()}

    def configured_loss_weights(self) -> dict[str, float]:
        """The config's ``loss_weights`` (saved with the model)."""
        return self.config.loss_weights

    def resolved_loss_weights(self, per_step: dict[str, float] | None = None) -> dict[str, float]:
        """The weight of every term this step: ``per_step`` over the config over the family's defaults."""
        return resolve_loss_weights(self.default_loss_weights(), self.configured_loss_weights(), per_step)

    def combine_losses(self, terms: dict[str, torch.Tensor], loss_weights: dict[str, float] | None) -> torch.Tensor:
        """Σ_k w_k · term_k, each weight as :meth:`resolved_loss_weights` resolves it."""
        return weighted_sum(terms, self.resolved_loss_weights(loss_weights))

    def _require_tokenizer(self):
        if self.tokenizer is None:
            raise ValueError("this model has no tokenizer attached; set model.tokenizer or load it from a saved folder")
        return self.tokenizer

    def _tokenize(self, texts: list[str]) -> list[list[int]]:
        from ..data.tokenization import encode_texts

        return encode_texts(self._require_tokenizer(), as_texts(texts), self.config.max_seq_length)

    def _decode_ids(self, ids: torch.Tensor) -> list[str]:
        """Generated ids [B, T] (after BOS) → texts, cut at the first EOS."""
        tok = self._require_tokenizer()
        out = []
        for row in ids.tolist():
            if self.config.eos_token_id in row:
                row = row[: row.index(self.config.eos_token_id)]
            out.append(tok.decode([t for t in row if t != self.config.pad_token_id], skip_special_tokens=True))
        return out

    def _generation_defaults(self, max_new_tokens: int | None, kwargs: dict) -> dict:
        kwargs.setdefault("max_new_tokens", max_new_tokens or self.config.max_seq_length + 1)
        kwargs.setdefault("do_sample", False)
        kwargs.setdefault("pad_token_id", self.config.pad_token_id)
        kwargs.setdefault("eos_token_id", self.config.eos_token_id)
        kwargs.setdefault("bos_token_id", self.config.bos_token_id)
        return kwargs

    def _bos(self, n: int) -> torch.Tensor:
        return torch.full((n, 1), self.config.bos_token_id, dtype=torch.long, device=self.device)


def length_sorted_batches(n_items: list[int], batch_size: int):
    """Index batches in descending length order (less padding); callers restore the input order."""
    order = sorted(range(len(n_items)), key=lambda i: -n_items[i])
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


class TextAutoencoderModel(TextAEModelBase):
    """x → encode → bottleneck → decode → x̂, with the pieces named in the config.

    Forward in training: ``input_ids`` [B, S] (the encoder's, possibly corrupted), ``attention_mask``
    [B, S], ``labels`` [B, T] = [BOS] x [EOS]. Forward in generation (what ``generate`` calls):
    ``input_ids`` [B, t] are decoder tokens and ``latent`` [B, d] conditions them.

    A family with ``condition_keys`` builds a :class:`LabelConditioning` in
    :meth:`build_conditioning`; every forward then also takes ``class_label`` [B] (label ids): the
    encoder's pooled state gets the label added (q(z | x, y)) and the decoder reads [z ; e(y)]
    (p(x | z, y)). Unconditioned families have ``conditioning = None`` and refuse ``class_label``.
    """

    config_class = TextAutoencoderConfig
    operations = frozenset({protocol.ENCODE, protocol.RECONSTRUCT, protocol.EXPORT_SENTENCE_TRANSFORMERS})

    def __init__(self, config: TextAutoencoderConfig):
        super().__init__(config)
        self.encoder = SentenceEncoder(
            config.encoder_config,
            pooling=config.pooling,
            embedding_noise=config.embedding_noise,
            state_dropout=config.latent_dropout,
            state_dropout_kind=config.latent_dropout_kind,
        )
        if config.latent_dim is None:
            config.latent_dim = self.encoder.hidden_size
        self.bottleneck = build_bottleneck(
            config.bottleneck, self.encoder.hidden_size, config.latent_dim, config.bottleneck_options
        )
        self.conditioning = self.build_conditioning()
        self.decoder = LatentDecoder(
            config.decoder_config,
            vocab_size=config.vocab_size,
            latent_dim=config.latent_dim + (self.conditioning.label_dim if self.conditioning is not None else 0),
            memory_slots=config.memory_slots,
            inject_embedding=config.inject_embedding,
            per_position_latent=self.bottleneck.per_position,
        )
        unknown = set(config.loss_weights) - self.loss_term_names()
        if unknown:
            raise ValueError(f"loss_weights names unknown terms {sorted(unknown)}; terms: {sorted(self.loss_term_names())}")
        self.post_init()
        if config.tie_encoder_decoder:
            self._tie_encoder_decoder()

    def _tie_encoder_decoder(self) -> None:
        """Makes the decoder's shared weights the encoder's own parameters and records the ties, so that
        safetensors stores each once and ``from_pretrained`` ties them again."""
        lm = self.decoder.lm
        prefix = lm.base_model_prefix + "."
        encoder_params = dict(self.encoder.model.named_parameters())
        ties = {}
        for name, param in list(lm.named_parameters()):
            source = encoder_params.get(name.removeprefix(prefix)) if name.startswith(prefix) else None
            if source is not None and source.shape == param.shape:
                module_name, _, attr = name.rpartition(".")
                setattr(lm.get_submodule(module_name), attr, source)
                ties[f"decoder.lm.{name}"] = f"encoder.model.{name.removeprefix(prefix)}"
        if not ties:
            raise ValueError("tie_encoder_decoder: the decoder shares no weight name and shape with the encoder")
        # a tie whose source is now itself tied (the LM head to the decoder's embeddings) points to the final source
        for target, source in list(self.all_tied_weights_keys.items()):
            if source in ties:
                self.all_tied_weights_keys[target] = ties[source]
                module_name, _, attr = target.rpartition(".")
                setattr(self.get_submodule(module_name), attr, self.get_parameter(ties[source]))
        self.all_tied_weights_keys.update(ties)
        # save_pretrained reads the targets from ``_tied_weights_keys`` and stores each source once
        self._tied_weights_keys = {**(type(self)._tied_weights_keys or {}), **ties}

    def loss_items(self, batch: dict) -> int:
        # a reconstruction averaged per sentence (the ELBO's scale) weighs each sentence alike
        if self.config.reconstruction_reduction == "sentence":
            return int(batch["labels"].shape[0])
        return super().loss_items(batch)

    def build_conditioning(self) -> LabelConditioning | None:
        """The label conditioning of a family with ``condition_keys`` (None: not conditioned)."""
        return None

    def default_loss_weights(self) -> dict[str, float]:
        # consistency is optional (0): computed only when weighted, from a batch's clean inputs
        conditioning = self.conditioning.loss_terms if self.conditioning is not None else ()
        return {"reconstruction": 1.0, "consistency": 0.0, **{name: 1.0 for name in (*self.bottleneck.loss_terms, *conditioning)}}

    def loss_term_names(self) -> set[str]:
        return set(self.default_loss_weights())

    def _class_label(self, class_label: torch.Tensor | None) -> torch.Tensor | None:
        """Checks that label ids come exactly when the family is conditioned on a label."""
        if self.conditioning is None and class_label is not None:
            raise ValueError(f"{type(self).__name__} is not conditioned on a label; drop class_label")
        if self.conditioning is not None and class_label is None:
            known = [self.config.id2label[i] for i in range(self.config.num_labels)]
            raise ValueError(f"{type(self).__name__} is conditioned on a label: pass class_label [B] (ids of {known})")
        return class_label

    def decoder_latent(self, latent: torch.Tensor, class_label: torch.Tensor | None = None) -> torch.Tensor:
        """What the decoder is conditioned on: z itself, or [z ; e(y)] for a label-conditioned family."""
        class_label = self._class_label(class_label)
        return latent if self.conditioning is None else self.conditioning.condition_latent(latent, class_label.to(latent.device))

    def consistency_loss(
        self, noisy_latent: torch.Tensor, clean_input_ids: torch.Tensor, clean_attention_mask: torch.Tensor, class_label: torch.Tensor | None = None
    ) -> torch.Tensor:
        """1 − cos(z_noisy, sg[z_clean]), averaged over the batch: pulls the embedding of the corrupted
        sentence toward that of the clean one, which is a fixed target (no gradient through it)."""
        with torch.no_grad():
            clean = self.encode_latent(clean_input_ids, clean_attention_mask, class_label=class_label).latent
        return cosine_distance(noisy_latent, clean)

    def get_input_embeddings(self):
        return self.decoder.lm.get_input_embeddings()

    def encode_latent(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        sample: bool | None = None,
        inputs_embeds: torch.Tensor | None = None,
        class_label: torch.Tensor | None = None,
    ) -> BottleneckOutput:
        """input_ids [B, S] → the bottleneck's output (latent [B, d] and its losses); a label-conditioned
        family adds the label ids ``class_label`` [B] to the pooled state first (and its probe's loss)."""
        class_label = self._class_label(class_label)
        encoded = self.encoder(input_ids, attention_mask, inputs_embeds=inputs_embeds)
        if self.conditioning is None:
            return self.bottleneck(encoded, sample=sample)
        out = self.bottleneck(self.conditioning.condition_encoder(encoded, class_label), sample=sample)
        losses, stats = self.conditioning.losses(encoded.pooled, class_label)
        out.losses.update(losses)
        out.stats.update(stats)
        return out

    @torch.no_grad()
    def predict_class_label(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """A label-conditioned family's probe: label ids [B] of encoder inputs [B, S]."""
        if self.conditioning is None:
            raise ValueError(f"{type(self).__name__} is not conditioned on a label")
        return self.conditioning.predict(self.encoder(input_ids, attention_mask).pooled)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        latent: torch.Tensor | None = None,
        latent_mask: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        clean_input_ids: torch.Tensor | None = None,
        clean_attention_mask: torch.Tensor | None = None,
        class_label: torch.Tensor | None = None,
        loss_weights: dict[str, float] | None = None,
        sample: bool | None = None,
        cache=None,
        use_cache: bool | None = None,
        return_dict: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
    ) -> TextAEOutput:
        if latent is not None:  # generation: input_ids are decoder tokens
            conditioned = self.decoder_latent(latent, class_label)
            out = self.decoder(input_ids, attention_mask, latent=conditioned, latent_mask=latent_mask, cache=cache, use_cache=use_cache)
            return TextAEOutput(logits=out.logits, latent=latent, cache=getattr(out, "cache", None))
        if labels is None:
            raise ValueError("training forward needs labels ([BOS] x [EOS]); for decoding pass latent=")
        bottleneck = self.encode_latent(input_ids, attention_mask, sample=sample, inputs_embeds=inputs_embeds, class_label=class_label)
        dec_inputs, dec_mask, targets = decoder_io(labels, self.config.pad_token_id)
        if self.training and self.config.word_dropout > 0:
            dec_inputs = self._word_dropout(dec_inputs, dec_mask)
        out = self.decoder(dec_inputs, dec_mask, latent=self.decoder_latent(bottleneck.latent, class_label), latent_mask=bottleneck.latent_mask)
        nll = token_cross_entropy(out.logits, targets)
        if self.config.reconstruction_reduction == "sentence":
            reconstruction = nll.sum() / nll.shape[0]
        else:
            reconstruction = nll.sum() / (targets != IGNORE_INDEX).sum().clamp(min=1)
        terms = {"reconstruction": reconstruction, **bottleneck.losses}
        if clean_input_ids is not None and self.resolved_loss_weights(loss_weights)["consistency"] > 0:
            terms["consistency"] = self.consistency_loss(bottleneck.latent, clean_input_ids, clean_attention_mask, class_label)
        stats = {"nll_per_sentence": nll.sum(1).mean().detach(), **bottleneck.stats}
        return TextAEOutput(
            loss=self.combine_losses(terms, loss_weights),
            reconstruction_loss=reconstruction,
            logits=out.logits,
            latent=bottleneck.latent,
            loss_terms=terms,
            stats=stats,
        )

    def encoder_input(self, ids: list[int]) -> list[int]:
        """Token ids of x (no specials) → the encoder's input: the tokenizer's template around them."""
        return [*self.config.encoder_prefix_ids, *ids, *self.config.encoder_suffix_ids]

    def batch_spec(self, loss_weights=None) -> BatchSpec:
        c = self.config
        return BatchSpec(
            format=self.batch_format,
            encoder_prefix=tuple(c.encoder_prefix_ids),
            encoder_suffix=tuple(c.encoder_suffix_ids),
            condition_keys=self.condition_keys,
            # the consistency term compares with the clean sentence's embedding; named, even at weight 0, it is built
            clean_inputs="consistency" in {**(c.loss_weights or {}), **(loss_weights or {})},
            noise=c.noise or None,
        )

    def _word_dropout(self, dec_inputs: torch.Tensor, dec_mask: torch.Tensor) -> torch.Tensor:
        """Replaces decoder inputs [B, T] by [UNK] with prob ``word_dropout``; BOS (position 0) is kept."""
        drop = torch.rand(dec_inputs.shape, device=dec_inputs.device) < self.config.word_dropout
        drop[:, 0] = False
        return dec_inputs.masked_fill(drop & dec_mask.bool(), self.config.unk_token_id)

    # ---- user-facing API -------------------------------------------------------------------
    @torch.no_grad()  # not inference_mode: the vectors may serve as targets in a later autograd graph
    def encode(
        self, texts: list[str], batch_size: int = 64, normalize: bool = False, sample: bool = False, class_label: torch.Tensor | None = None
    ) -> torch.Tensor:
        """texts → latents [N, d] (the posterior mean unless ``sample``); batches are length-sorted.
        A label-conditioned family takes each text's label id in ``class_label`` [N].

        A text with no token (empty, whitespace-only, or only characters the tokenizer drops)
        encodes to the zero vector, whatever the family: it has no content, so no direction (its
        cosine similarity to anything is 0); a warning counts such texts. Texts longer than
        ``config.max_seq_length`` tokens are truncated, with a warning. Texts are tokenized a chunk
        at a time, so memory beyond the [N, d] result stays bounded; :meth:`encode_iter` takes an
        iterable (a file, a stream) and yields blocks."""
        class_label = self._class_label(None if class_label is None else torch.as_tensor(class_label, dtype=torch.long))
        specials = len(self.config.encoder_prefix_ids) + len(self.config.encoder_suffix_ids)
        blank = 0

        def latents(input_ids, mask, rows):
            nonlocal blank
            labels = None if class_label is None else class_label[rows].to(self.device)
            z = self.encode_latent(input_ids, mask, sample=sample, class_label=labels).latent
            z = F.normalize(z.flatten(1), dim=-1).view_as(z) if normalize else z
            empty = mask.sum(1) <= specials  # no token of the text itself
            if empty.any():
                blank += int(empty.sum())
                z = z.masked_fill(empty.view(-1, *[1] * (z.dim() - 1)), 0.0)
            return z

        out = self.map_encoder_batches(texts, latents, batch_size, empty=(0, self.config.latent_dim))
        if blank:
            logger.warning("%d of %d texts have no token (empty or whitespace-only): their embedding is the zero vector", blank, out.shape[0])
        return out

    def encode_iter(self, texts, batch_size: int = 64, chunk_size: int = 8192, **encode_kwargs):
        """Embeddings of an iterable of texts (a file read line by line, a streaming dataset), as
        consecutive blocks [≤ chunk_size, d] in the input order: memory holds one chunk of texts at a
        time whatever their number. Each chunk goes through :meth:`encode` with ``encode_kwargs``."""
        chunk: list[str] = []
        for text in texts:
            chunk.append(text)
            if len(chunk) == chunk_size:
                yield self.encode(chunk, batch_size=batch_size, **encode_kwargs)
                chunk = []
        if chunk:
            yield self.encode(chunk, batch_size=batch_size, **encode_kwargs)

    def map_encoder_batches(self, texts: list[str], fn, batch_size: int = 64, empty: tuple = (0,), chunk_size: int = 8192) -> torch.Tensor:
        """Runs ``fn(input_ids [b, S], attention_mask [b, S], rows)`` in eval mode over length-sorted
        batches of the encoder's inputs of ``texts`` (``rows``: their indices in ``texts``) and returns
        the results [N, ...] on the CPU in the input order (an empty tensor of shape ``empty`` for no text).
        Texts are tokenized and sorted ``chunk_size`` at a time: the tokenizer's per-text objects never
        exist for all N at once."""
        texts = as_texts(texts)  # one string is one text; a generator or an array of strings is accepted
        if len(texts) == 0:
            return torch.empty(*empty)
        with eval_mode(self):
            out = None
            for start in range(0, len(texts), chunk_size):
                ids = [self.encoder_input(x) for x in self._tokenize(list(texts[start : start + chunk_size]))]
                for batch in length_sorted_batches([len(s) for s in ids], batch_size):
                    input_ids, mask = (t.to(self.device) for t in pad_sequences([ids[i] for i in batch], self.config.pad_token_id))
                    rows = torch.tensor(batch) + start
                    result = fn(input_ids, mask, rows)
                    result = result.float().cpu() if result.is_floating_point() else result.cpu()
                    if out is None:
                        out = torch.empty((len(texts), *result.shape[1:]), dtype=result.dtype)
                    out[rows] = result  # in the input order
        return out

    @torch.no_grad()
    def decode(self, latent: torch.Tensor, max_new_tokens: int | None = None, class_label: torch.Tensor | None = None, **generate_kwargs) -> list[str]:
        """latents [N, d] → texts, through ``generate`` (greedy unless ``do_sample=True``); a
        label-conditioned family takes the label id of each row in ``class_label`` [N]."""
        latent = check_latent(latent, self.config.latent_dim).to(self.device, self.dtype)
        class_label = self._class_label(None if class_label is None else torch.as_tensor(class_label, dtype=torch.long, device=self.device))
        if class_label is not None:
            generate_kwargs["class_label"] = class_label
        kwargs = self._generation_defaults(max_new_tokens, generate_kwargs)
        ids = self.generate(input_ids=self._bos(latent.shape[0]), latent=latent, **kwargs)
        return self._decode_ids(ids[:, 1:])

    @torch.no_grad()
    def reconstruct(self, texts: list[str], batch_size: int = 64, class_label: torch.Tensor | None = None, **generate_kwargs) -> list[str]:
        """texts → encode → decode (greedy); ``class_label`` [N]: the label ids of a label-conditioned family."""
        texts = as_texts(texts)
        out: list[str] = []
        class_label = None if class_label is None else torch.as_tensor(class_label, dtype=torch.long)
        for i in range(0, len(texts), batch_size):
            labels = None if class_label is None else class_label[i : i + batch_size]
            z = self.encode(texts[i : i + batch_size], batch_size=batch_size, class_label=labels)
            out.extend(self.decode(z, class_label=labels, **generate_kwargs))
        return out
