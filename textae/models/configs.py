"""The configs every textae family builds on: token ids and the decoder (:class:`TextAEBaseConfig`),
and the encoder, bottleneck and decoder of an autoencoder (:class:`TextAutoencoderConfig`)."""

from __future__ import annotations

import warnings

from .token_config import TextTokenConfig

# keys renamed since models were first saved: old name → new name (old recipes and config.json files
# still load, with a FutureWarning naming the new key)
RENAMED_KEYS = {"latent_dropout": "state_dropout", "latent_dropout_kind": "state_dropout_kind"}


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


class TextAEBaseConfig(TextTokenConfig):
    """Settings shared by every textae model (token ids, the decoder, the length limit).

    Args:
        vocab_size: the tokenizer's vocabulary size.
        decoder_config: HF causal-LM config as a dict with ``model_type`` (tiny GPT-2 by default).
        max_seq_length: token limit of a sentence (longer ones are truncated).
    """

    model_type = "textae_base"

    decoder_config: dict | None = None
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
        memory_slots: K memory slots projected from z (0 = off).
        latent_injection: how the slots reach the decoder: "cross_attention" (a decoder that has
            it: GPT-2, BERT as decoder), "past_key_values" (Optimus: per-layer keys and values in
            the cache, any causal LM) or "prefix" (K input embeddings before the first token, any
            causal LM); see :mod:`textae.modules.injection`.
        inject_embedding: add a projection of z to every decoder input embedding.
        lora / freeze_backbones: LoRA on the encoder and/or decoder (``{r, alpha, dropout,
            target_modules, side}``) and frozen backbone weights; see :mod:`textae.models.adapters`.
        loss_weights: the default weight of each loss term; the training loop may override per step.
        reconstruction_reduction: "token" (mean NLL per token) or "sentence" (mean NLL per sentence,
            the scale at which a KL per sentence makes the ELBO).
        word_dropout: share of decoder input tokens replaced by [UNK] while training (Bowman et al. 2016);
            applied by the families that use it (VAE, CVAE: see :mod:`textae.models.vae`), refused
            in training by the others.
        noise: corruption of the encoder's input, a list of :class:`textae.noise.NoisePipeline` specs
            (``[{"name": "delete_tokens", "rate": 0.6}]``) that the collator applies afresh each epoch;
            the decoder always targets the clean text.
        embedding_noise: white noise on the encoder's token embeddings while training, std relative to
            each embedding's RMS.
        state_dropout / state_dropout_kind: dropout on the encoder's token states [B, T, H] before
            pooling while training: "standard" (each element) or "spatial" (whole channels). The old
            names ``latent_dropout`` / ``latent_dropout_kind`` still work, with a FutureWarning.
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
    latent_injection: str = "cross_attention"
    inject_embedding: bool = True
    lora: dict | None = None
    freeze_backbones: bool = False
    loss_weights: dict | None = None
    reconstruction_reduction: str = "token"
    word_dropout: float = 0.0
    noise: list | None = None
    embedding_noise: float = 0.0
    state_dropout: float = 0.0
    state_dropout_kind: str = "standard"
    # the old names of state_dropout / state_dropout_kind (see RENAMED_KEYS): read once, then dropped
    latent_dropout: float | None = None
    latent_dropout_kind: str | None = None
    encoder_prefix_ids: list | None = None
    encoder_suffix_ids: list | None = None
    tie_encoder_decoder: bool = False
    # the encoder's own tokenizer, when it is not the decoder's (None: the same as the decoder's ids)
    encoder_vocab_size: int | None = None
    encoder_pad_token_id: int | None = None
    encoder_unk_token_id: int | None = None
    encoder_mask_token_id: int | None = None

    @classmethod
    def settings_from_tokenizer(cls, tokenizer, settings: dict) -> dict:
        # the encoder reads x in the tokenizer's own template ([CLS] x [SEP] for a BERT tokenizer)
        from ..data.tokenization import special_template

        prefix, suffix = special_template(tokenizer)
        return {"encoder_prefix_ids": prefix, "encoder_suffix_ids": suffix, **settings}

    def __post_init__(self, **kwargs):
        self._rename_old_keys()
        from .adapters import check_lora

        check_lora(self.lora)
        if self.reconstruction_reduction not in ("token", "sentence"):
            raise ValueError(f"reconstruction_reduction must be 'token' or 'sentence', got {self.reconstruction_reduction!r}")
        if not 0.0 <= self.word_dropout < 1.0:
            raise ValueError(f"word_dropout must be in [0, 1), got {self.word_dropout}")
        self.encoder_config = dict(self.encoder_config or DEFAULT_ENCODER)
        # an encoder built from a config reads the tokenizer's ids (a pretrained one keeps its own size)
        encoder = self.encoder_token_ids()
        self.encoder_config.setdefault("vocab_size", encoder["vocab_size"])
        if encoder["pad_token_id"] is not None:  # its padding embedding must be the tokenizer's pad id (ModernBERT's default is past a small vocabulary)
            self.encoder_config.setdefault("pad_token_id", encoder["pad_token_id"])
        self.bottleneck = self.bottleneck or self.default_bottleneck
        self.bottleneck_options = dict(self.bottleneck_options or {})
        self.loss_weights = dict(self.loss_weights or {})
        self.noise = [dict(step) for step in (self.noise or [])]
        self.encoder_prefix_ids = list(self.encoder_prefix_ids or [])
        self.encoder_suffix_ids = list(self.encoder_suffix_ids or [])
        super().__post_init__(**kwargs)

    @property
    def two_tokenizers(self) -> bool:
        return self.encoder_vocab_size is not None

    def encoder_token_ids(self) -> dict[str, int | None]:
        """The vocabulary size and PAD / UNK / MASK ids of the encoder's tokenizer."""
        own = {"vocab_size": self.encoder_vocab_size, "pad_token_id": self.encoder_pad_token_id, "unk_token_id": self.encoder_unk_token_id, "mask_token_id": self.encoder_mask_token_id}
        return {k: v if v is not None else getattr(self, k) for k, v in own.items()}

    def _rename_old_keys(self) -> None:
        """Moves a value given under an old key name to its new key, with a FutureWarning."""
        for old, new in RENAMED_KEYS.items():
            value = self.__dict__.pop(old, None)
            if value is None:
                continue
            # a folder saved before the rename carries the old key at its default: nothing to warn about
            if value != getattr(type(self), new, None):
                warnings.warn(f"the config key {old!r} is now {new!r}; {old!r} will stop working in a later textae", FutureWarning, stacklevel=4)
            setattr(self, new, value)
