"""Hugging Face plumbing shared by every family: the tokenizer saved and loaded beside the weights,
tokenizer I/O (texts → ids, generated ids → texts, generation defaults), the encoder-decoder weight
tie, and one eval-mode context manager."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pathlib import Path

import torch
from transformers import AutoTokenizer

from ..inputs import as_texts
from ..safe_loading import refuse_pickled_weights


@contextmanager
def eval_mode(module: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """Runs the block with ``module`` in eval mode and puts back the mode it had, also when the
    block raises (an evaluation that fails must not leave a training run without its dropout).

    >>> net = torch.nn.Dropout(0.5)
    >>> with eval_mode(net):
    ...     net.training
    False
    >>> net.training
    True
    """
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)


class TokenizerIO:
    """Mixin of every textae model (before ``PreTrainedModel`` in the bases): the tokenizer travels
    with the weights, and texts go in and out through it."""

    tokenizer = None  # attached by from_pretrained when the folder holds one, or by the user
    # the decoder's own tokenizer when it is not ``tokenizer`` (saved in DECODER_TOKENIZER_DIR)
    decoder_tokenizer = None

    @property
    def output_tokenizer(self):
        """The tokenizer the model writes with: the decoder's own, else the one tokenizer."""
        return self.decoder_tokenizer if self.decoder_tokenizer is not None else self.tokenizer

    def save_pretrained(self, save_directory, *args, **kwargs):
        super().save_pretrained(save_directory, *args, **kwargs)
        if self.tokenizer is not None:
            self.tokenizer.save_pretrained(save_directory)
        if self.decoder_tokenizer is not None:
            self.decoder_tokenizer.save_pretrained(Path(save_directory) / DECODER_TOKENIZER_DIR)

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
        if local and _holds_tokenizer(folder):
            model.tokenizer = AutoTokenizer.from_pretrained(str(folder))
            if _holds_tokenizer(folder / DECODER_TOKENIZER_DIR):
                model.decoder_tokenizer = AutoTokenizer.from_pretrained(str(folder / DECODER_TOKENIZER_DIR))
            model.check_tokenizer(model.tokenizer, where=str(folder), decoder_tokenizer=model.decoder_tokenizer)
        model.after_load()
        return model

    def check_tokenizer(self, tokenizer, where: str = "the tokenizer", decoder_tokenizer=None) -> None:
        """Raises ValueError when ``tokenizer`` (and ``decoder_tokenizer``) cannot be this model's: ids
        past the vocabulary, or special tokens with other ids than the model was trained with. A model
        with two tokenizers checks the encoder's against its ``encoder_*`` ids."""
        c = self.config
        two = getattr(c, "two_tokenizers", False)
        if two and decoder_tokenizer is None:
            raise ValueError(f"{where}: the model reads and writes with two tokenizers; the decoder's ({DECODER_TOKENIZER_DIR}/) is missing")
        if two:
            _check_side(tokenizer, c.encoder_token_ids(), ("pad",), f"{where} (the encoder's tokenizer)")
        writer = decoder_tokenizer if two else tokenizer
        _check_side(writer, {"vocab_size": c.vocab_size, **{f"{n}_token_id": getattr(c, f"{n}_token_id") for n in ("pad", "bos", "eos")}}, ("pad", "bos", "eos"), where)

    def _require_tokenizer(self):
        if self.tokenizer is None:
            raise ValueError("this model has no tokenizer attached; set model.tokenizer or load it from a saved folder")
        return self.tokenizer

    def _tokenize(self, texts: list[str]) -> list[list[int]]:
        from ..data.tokenization import encode_texts

        return encode_texts(self._require_tokenizer(), as_texts(texts), self.config.max_seq_length)

    def _tokenize_output(self, texts: list[str]) -> list[list[int]]:
        """Texts as the decoder writes them (its own tokenizer's ids)."""
        from ..data.tokenization import encode_texts

        self._require_tokenizer()
        return encode_texts(self.output_tokenizer, as_texts(texts), self.config.max_seq_length)

    def _decode_ids(self, ids: torch.Tensor) -> list[str]:
        """Generated ids [B, T] (after BOS) → texts, cut at the first EOS."""
        self._require_tokenizer()
        tok = self.output_tokenizer
        out = []
        for row in ids.tolist():
            if self.config.eos_token_id in row:
                row = row[: row.index(self.config.eos_token_id)]
            out.append(tok.decode([t for t in row if t != self.config.pad_token_id], skip_special_tokens=True))
        return out

    def _generation_defaults(self, max_new_tokens: int | None, kwargs: dict) -> dict:
        kwargs.setdefault("max_new_tokens", max_new_tokens or self._longest_generation())
        kwargs.setdefault("do_sample", False)
        kwargs.setdefault("pad_token_id", self.config.pad_token_id)
        kwargs.setdefault("eos_token_id", self.config.eos_token_id)
        kwargs.setdefault("bos_token_id", self.config.bos_token_id)
        return kwargs

    def _longest_generation(self) -> int:
        """A sentence and its EOS, within what the decoder's position table holds after BOS and memory."""
        wanted = self.config.max_seq_length + 1
        limit = self.decoder.positions_left()
        return wanted if limit is None else max(1, min(wanted, limit))

    def _bos(self, n: int) -> torch.Tensor:
        return torch.full((n, 1), self.config.bos_token_id, dtype=torch.long, device=self.device)


DECODER_TOKENIZER_DIR = "decoder_tokenizer"


def _holds_tokenizer(folder: Path) -> bool:
    return (folder / "tokenizer.json").exists() or (folder / "tokenizer_config.json").exists()


def _check_side(tokenizer, ids: dict, names: tuple[str, ...], where: str) -> None:
    if len(tokenizer) > ids["vocab_size"]:
        raise ValueError(f"{where}: the tokenizer has {len(tokenizer)} tokens but the model's vocabulary has {ids['vocab_size']}; it is not this model's tokenizer")
    for name in names:
        mine, theirs = ids[f"{name}_token_id"], getattr(tokenizer, f"{name}_token_id")
        if theirs is not None and mine is not None and theirs != mine:
            raise ValueError(f"{where}: the tokenizer's {name.upper()} id is {theirs} but the model's is {mine}; it is not this model's tokenizer")


def tie_encoder_decoder(model) -> None:
    """Makes ``model``'s decoder weights that have a same-named, same-shaped encoder weight that
    encoder parameter, and records the ties, so that safetensors stores each once and
    ``from_pretrained`` ties them again."""
    lm = model.decoder.lm
    prefix = lm.base_model_prefix + "."
    encoder_params = dict(model.encoder.model.named_parameters())
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
    for target, source in list(model.all_tied_weights_keys.items()):
        if source in ties:
            model.all_tied_weights_keys[target] = ties[source]
            module_name, _, attr = target.rpartition(".")
            setattr(model.get_submodule(module_name), attr, model.get_parameter(ties[source]))
    model.all_tied_weights_keys.update(ties)
    # save_pretrained reads the targets from ``_tied_weights_keys`` and stores each source once
    model._tied_weights_keys = {**(type(model)._tied_weights_keys or {}), **ties}

