"""The composable core every textae family is built from.

``x → corrupt → encode → bottleneck → decode → x̂``: :class:`TextAutoencoderModel` composes a
:class:`SentenceEncoder`, a registered :class:`Bottleneck` and a :class:`LatentDecoder`; a family is a
config subclass (its ``model_type`` and defaults) plus what is its own, in its own file (the VAE's
word dropout and sampling, the CVAE's label conditioning, the DAE's consistency term). :class:`TextLM`
is the same decoder with no latent, so NLL comparisons against it are fair.

Sequence convention (the collator builds it): ``labels = [BOS] x [EOS]`` padded with -100; the
decoder reads ``labels[:, :-1]`` and predicts ``labels[:, 1:]``. The encoder reads ``input_ids`` (x,
possibly corrupted). For :class:`TextLM`, ``input_ids`` and ``labels`` are both ``[BOS] x [EOS]``.

The outputs are in :mod:`.outputs`, the configs in :mod:`.configs`, the loss pieces in :mod:`.losses`,
the HF plumbing in :mod:`.hf` and the texts API in :mod:`.texts`; their names stay importable from here.
"""

from __future__ import annotations

import torch
from transformers import GenerationMixin, PreTrainedModel

from ..modules import BottleneckOutput, LatentDecoder, SentenceEncoder, build_bottleneck
from ..tensors import IGNORE_INDEX
from .adapters import apply_adapters, freeze_as_configured
from . import protocol
from .configs import DEFAULT_DECODER, DEFAULT_ENCODER, TextAEBaseConfig, TextAutoencoderConfig
from .hf import TokenizerIO, eval_mode, tie_encoder_decoder
from .losses import cosine_distance, resolve_loss_weights, token_cross_entropy, weighted_sum
from .outputs import TextAEOutput, TextLMOutput
from .protocol import BatchSpec, FamilyProtocol
from .texts import AutoencoderTexts, length_sorted_batches

__all__ = [
    "DEFAULT_DECODER", "DEFAULT_ENCODER", "FORWARD_INPUTS", "IGNORE_INDEX", "TextAEBaseConfig", "TextAEModelBase", "TextAEOutput",
    "TextAutoencoderConfig", "TextAutoencoderModel", "TextLMOutput", "cosine_distance", "decoder_io", "eval_mode",
    "length_sorted_batches", "token_cross_entropy",
]

# the optional inputs of TextAutoencoderModel.forward, beside a family's ``condition_keys`` columns
FORWARD_INPUTS = frozenset({"latent_mask", "inputs_embeds", "sample", "cache", "use_cache", "return_dict", "output_attentions", "output_hidden_states"})


def decoder_io(labels: torch.Tensor, pad_token_id: int):
    """From labels [B, T] = [BOS] x [EOS] (-100 padded): decoder inputs, their mask, and targets."""
    inputs = labels[:, :-1].masked_fill(labels[:, :-1] == IGNORE_INDEX, pad_token_id)
    mask = (labels[:, :-1] != IGNORE_INDEX).long()
    return inputs, mask, labels[:, 1:]


class TextAEModelBase(TokenizerIO, PreTrainedModel, GenerationMixin, FamilyProtocol):
    """Shared plumbing: weight init, the tokenizer saved beside the weights, the loss weights."""

    config_class = TextAEBaseConfig
    base_model_prefix = "textae"
    main_input_name = "input_ids"
    # activation_checkpointing_enable() reaches every HF backbone inside (encoder, decoder, generator)
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    _can_compile_fullgraph = False
    # the loss is a mean over the batch's items (see loss_items); HF's Trainer must not pass
    # num_items_in_batch to forward for a forward that takes **inputs
    accepts_loss_kwargs = False

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


class TextAutoencoderModel(AutoencoderTexts, TextAEModelBase):
    """x → encode → bottleneck → decode → x̂, with the pieces named in the config.

    Forward in training: ``input_ids`` [B, S] (the encoder's, possibly corrupted), ``attention_mask``
    [B, S], ``labels`` [B, T] = [BOS] x [EOS]. Forward in generation (what ``generate`` calls):
    ``input_ids`` [B, t] are decoder tokens and ``latent`` [B, d] conditions them.

    A conditioned family names its batch columns in ``condition_keys``, builds its modules in
    :meth:`build_conditioning` and reads the columns in :meth:`encode_latent` / :meth:`decoder_latent`;
    the core passes them through by name and refuses them for a family that names none.
    """

    config_class = TextAutoencoderConfig
    operations = frozenset({protocol.ENCODE, protocol.RECONSTRUCT, protocol.EXPORT_SENTENCE_TRANSFORMERS})
    word_dropout_applied = False  # whether the family applies config.word_dropout (the VAE's do)

    def __init__(self, config: TextAutoencoderConfig):
        super().__init__(config)
        self.encoder = SentenceEncoder(
            config.encoder_config,
            pooling=config.pooling,
            embedding_noise=config.embedding_noise,
            state_dropout=config.state_dropout,
            state_dropout_kind=config.state_dropout_kind,
        )
        if config.latent_dim is None:
            config.latent_dim = self.encoder.hidden_size
        self.bottleneck = build_bottleneck(config.bottleneck, self.encoder.hidden_size, config.latent_dim, config.bottleneck_options)
        condition_dim = self.build_conditioning()
        self.decoder = LatentDecoder(
            config.decoder_config,
            vocab_size=config.vocab_size,
            latent_dim=config.latent_dim + condition_dim,
            memory_slots=config.memory_slots,
            inject_embedding=config.inject_embedding,
            injection=config.latent_injection,
            per_position_latent=self.bottleneck.per_position,
        )
        unknown = set(config.loss_weights) - self.loss_term_names()
        if unknown:
            raise ValueError(f"loss_weights names unknown terms {sorted(unknown)}; terms: {sorted(self.loss_term_names())}")
        self.post_init()
        if config.tie_encoder_decoder:
            tie_encoder_decoder(self)
        apply_adapters(self, config.lora, config.freeze_backbones)

    def evaluation_report(self, dataloader, texts, teacher_forced, *, max_batches=None, **settings) -> dict:
        # every latent family: how much the decoder reads z (NLL rise when z is another sentence's)
        from ..metrics.latent_use import latent_use

        report = super().evaluation_report(dataloader, texts, teacher_forced, max_batches=max_batches, **settings)
        use = latent_use(self, dataloader, max_batches)
        if use is not None:
            report["latent_use"] = use
        return report

    def metric_lines(self, metrics: dict) -> list[str]:
        use = metrics.get("latent_use")
        if not use:
            return []
        return [
            f"latent use: NLL/sentence {use['nll_per_sentence']:.3f} with its own z, {use['shuffled_nll_per_sentence']:.3f} with another "
            f"sentence's (+{use['rise_per_sentence']:.3f} nats, {use['rise_ratio']:+.1%})"
        ]

    def after_load(self) -> None:
        freeze_as_configured(self, self.config.lora, self.config.freeze_backbones)

    def build_conditioning(self) -> int:
        """Builds a conditioned family's modules (between the bottleneck and the decoder, which keeps
        the initialisation order) and returns how many features they join to z for the decoder."""
        return 0

    def loss_items(self, batch: dict) -> int:
        # a reconstruction averaged per sentence (the ELBO's scale) weighs each sentence alike
        if self.config.reconstruction_reduction == "sentence":
            return int(batch["labels"].shape[0])
        return super().loss_items(batch)

    def default_loss_weights(self) -> dict[str, float]:
        return {"reconstruction": 1.0, **{name: 1.0 for name in self.bottleneck.loss_terms}}

    def loss_term_names(self) -> set[str]:
        return set(self.default_loss_weights())

    def refuse_condition(self, given: dict) -> None:
        """Refuses inputs that are not among the family's ``condition_keys`` (a None value is no input)."""
        unknown = sorted(k for k, v in given.items() if v is not None and k not in self.condition_keys)
        if unknown and self.condition_keys:
            raise ValueError(f"{type(self).__name__} is conditioned on {list(self.condition_keys)}; it takes no {unknown}")
        if unknown:
            raise ValueError(f"{type(self).__name__} is not conditioned on a label or any other column; drop {unknown}")

    def decoder_latent(self, latent: torch.Tensor, **condition) -> torch.Tensor:
        """What the decoder is conditioned on: z itself (a conditioned family joins its condition)."""
        self.refuse_condition(condition)
        return latent

    def get_input_embeddings(self):
        return self.decoder.lm.get_input_embeddings()

    def encode_latent(self, input_ids, attention_mask, sample: bool | None = None, inputs_embeds=None, **condition) -> BottleneckOutput:
        """input_ids [B, S] → the bottleneck's output (latent [B, d] and its losses)."""
        self.refuse_condition(condition)
        states = self.encoder(input_ids, attention_mask, inputs_embeds=inputs_embeds)
        out = self.bottleneck(states, sample=sample)
        out.encoder_states = states  # the token states, for terms that compare tokens (the DAE's word term)
        return out

    def decoder_inputs(self, dec_inputs: torch.Tensor, dec_mask: torch.Tensor) -> torch.Tensor:
        """The decoder's input tokens [B, T] in training (a family may corrupt them: word dropout)."""
        return dec_inputs

    def forward(self, input_ids=None, attention_mask=None, labels=None, latent=None, loss_weights: dict[str, float] | None = None, **inputs) -> TextAEOutput:
        """Training: encoder ``input_ids`` / ``attention_mask`` [B, S] and ``labels`` [B, T]; generation:
        decoder ``input_ids`` [B, t] and ``latent``. ``inputs``: the optional :data:`FORWARD_INPUTS`
        (``latent_mask``, ``inputs_embeds``, ``sample``, ``cache``, ``use_cache`` ...) and the
        family's ``condition_keys`` columns."""
        self.refuse_condition({k: v for k, v in inputs.items() if k not in FORWARD_INPUTS})
        condition = {k: inputs[k] for k in self.condition_keys if k in inputs}
        if latent is not None:  # generation: input_ids are decoder tokens
            conditioned = self.decoder_latent(latent, **condition)
            out = self.decoder(input_ids, attention_mask, latent=conditioned, latent_mask=inputs.get("latent_mask"), cache=inputs.get("cache"), use_cache=inputs.get("use_cache"))
            return TextAEOutput(logits=out.logits, latent=latent, cache=getattr(out, "cache", None))
        if labels is None:
            raise ValueError("training forward needs labels ([BOS] x [EOS]); for decoding pass latent=")
        bottleneck = self.encode_latent(input_ids, attention_mask, sample=inputs.get("sample"), inputs_embeds=inputs.get("inputs_embeds"), **condition)
        dec_inputs, dec_mask, targets = decoder_io(labels, self.config.pad_token_id)
        conditioned = self.decoder_latent(bottleneck.latent, **condition)
        out = self.decoder(self.decoder_inputs(dec_inputs, dec_mask), dec_mask, latent=conditioned, latent_mask=bottleneck.latent_mask)
        nll = token_cross_entropy(out.logits, targets)
        if self.config.reconstruction_reduction == "sentence":
            reconstruction = nll.sum() / nll.shape[0]
        else:
            reconstruction = nll.sum() / (targets != IGNORE_INDEX).sum().clamp(min=1)
        terms = {"reconstruction": reconstruction, **bottleneck.losses}
        stats = {"nll_per_sentence": nll.sum(1).mean().detach(), **bottleneck.stats}
        return TextAEOutput(
            loss=self.combine_losses(terms, loss_weights), reconstruction_loss=reconstruction, logits=out.logits, latent=bottleneck.latent, loss_terms=terms, stats=stats
        )

    def batch_spec(self, loss_weights=None) -> BatchSpec:
        c = self.config
        reader = c.encoder_token_ids()  # the noise corrupts the encoder's side only
        # one tokenizer: its BOS / EOS too; the encoder's own: the template around its input instead
        extra = (*c.encoder_prefix_ids, *c.encoder_suffix_ids) if c.two_tokenizers else (c.bos_token_id, c.eos_token_id)
        specials = sorted({i for i in (reader["pad_token_id"], reader["unk_token_id"], reader["mask_token_id"], *extra) if i is not None})
        return BatchSpec(
            format=self.batch_format,
            encoder_prefix=tuple(c.encoder_prefix_ids),
            encoder_suffix=tuple(c.encoder_suffix_ids),
            condition_keys=self.condition_keys,
            noise=c.noise or None,
            noise_ids={"mask_id": reader["mask_token_id"], "vocab_size": reader["vocab_size"], "special_ids": specials},
            encoder_pad_token_id=reader["pad_token_id"],
        )

    def prepare_for_training(self) -> None:
        if self.config.word_dropout > 0 and not self.word_dropout_applied:
            raise ValueError(f"word_dropout is {self.config.word_dropout}, but {type(self).__name__} does not apply word dropout (the vae and cvae families do); set it to 0")
