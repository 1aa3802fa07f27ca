"""The family protocol: what the training loop, the CLI, evaluation, export and plots ask a model.

Each family declares, in its own file:

* what its collator builds: :attr:`batch_format`, its :attr:`condition_keys` (batch columns every
  forward takes by name, such as the CVAE's ``class_label``) and :meth:`batch_spec`;
* its loss terms, with one default weight each (``default_loss_weights``, resolved by
  :func:`~textae.models.losses.resolve_loss_weights`);
* what it reports at evaluation (:meth:`evaluation_report`) and how that report prints
  (:meth:`report_lines`);
* which user-facing operations it offers (:attr:`operations`, asked with :meth:`offers` and
  :meth:`require`).

Code outside ``textae.models`` asks these and never probes a model with ``hasattr``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

# the user-facing operations a family may offer
ENCODE = "encode"  # texts → latents (and sentence embeddings)
RECONSTRUCT = "reconstruct"  # texts → encode → decode
SAMPLE = "sample"  # texts from the prior (a VQ model only once a prior is attached)
TRANSFER = "transfer"  # texts decoded under another label
ENCODE_CODES = "encode_codes"  # texts ↔ discrete codes
ATTACH_PRIOR = "attach_prior"  # a prior over codes loads from a folder
EXPORT_SENTENCE_TRANSFORMERS = "export_sentence_transformers"
EXPORT_HF_ENCODER = "export_hf_encoder"
SCORE = "score"  # log-likelihood of texts
TAG = "tag"  # texts → each token with its noise class


class UnsupportedOperation(ValueError):
    """A family was asked for an operation it does not offer."""


@dataclass(frozen=True)
class BatchSpec:
    """What a family's collator builds (see :class:`~textae.data.collate.TextAECollator`).

    ``format``: "autoencoder" (encoder inputs + [BOS] x [EOS] labels) or "lm" (one token row);
    ``encoder_prefix`` / ``encoder_suffix``: the special ids around the encoder's tokens;
    ``condition_keys``: the dataset columns passed on to every forward;
    ``clean_inputs``: whether batches also carry the uncorrupted encoder inputs;
    ``noise``: the input corruption steps (None: none), and ``noise_ids``, what its token steps need
    of the encoder's tokenizer (``mask_id``, ``vocab_size``, ``special_ids``);
    ``encoder_pad_token_id``: what pads the encoder's inputs (None: the model's PAD);
    ``word_ids``: whether batches also carry the word of each token of the corrupted and the clean
    inputs (``word_ids`` / ``clean_word_ids``, aligned where the noise kept the words);
    ``tag_noise``: tagged noise steps (:class:`~textae.noise.labels.TaggedNoise` specs; None: none):
    the encoder then reads the corrupted text and batches carry ``tag_labels``, the noise class of
    each token, with ``tag_vocabulary`` the words ``replace_words`` draws from."""

    format: str = "autoencoder"
    encoder_prefix: tuple[int, ...] = ()
    encoder_suffix: tuple[int, ...] = ()
    condition_keys: tuple[str, ...] = ()
    clean_inputs: bool = False
    noise: list[dict] | None = field(default=None, compare=False)
    noise_ids: dict | None = field(default=None, compare=False)
    encoder_pad_token_id: int | None = None
    word_ids: bool = False
    tag_noise: list[dict] | None = field(default=None, compare=False)
    tag_vocabulary: tuple[str, ...] = field(default=(), compare=False)


class FamilyProtocol:
    """Mixin of every textae model: the declarations above with the defaults of a plain family."""

    batch_format: ClassVar[str] = "autoencoder"
    condition_keys: ClassVar[tuple[str, ...]] = ()
    operations: ClassVar[frozenset[str]] = frozenset()

    # ---- operations ---------------------------------------------------------------------------
    def offers(self, operation: str) -> bool:
        """Whether this model can do ``operation`` now (one of the names in this module); a declared
        operation may need something first (a VQ model samples once a prior is attached)."""
        return operation in self.operations

    def require(self, operation: str, hint: str = "") -> None:
        """Raises :class:`UnsupportedOperation` naming the family and what it does offer."""
        if not self.offers(operation):
            offered = ", ".join(sorted(op for op in self.operations if self.offers(op))) or "none"
            raise UnsupportedOperation(f"{type(self).__name__} does not offer {operation} (it offers: {offered}){'; ' + hint if hint else ''}")

    # ---- batches ------------------------------------------------------------------------------
    def batch_spec(self, loss_weights: Mapping[str, object] | None = None) -> BatchSpec:
        """What the collator builds for this model under the recipe's ``loss_weights``."""
        return BatchSpec(format=self.batch_format, condition_keys=self.condition_keys)

    def token_predictions(self, output, batch: dict):
        """(logits [B, T, V], targets [B, T]) of a forward's ``output`` on ``batch``, aligned so that
        logits[:, t] predicts targets[:, t] (-100 where nothing is predicted); None for a family with
        no token likelihood (a detector). Default: a decoder that reads [BOS] x and predicts x [EOS]."""
        return output.logits, batch["labels"][:, 1:]

    # ---- training hooks -----------------------------------------------------------------------
    def prepare_for_training(self) -> None:
        """Called by the training build once pretrained weights are in, before a resume loads others."""

    def after_load(self) -> None:
        """Called by ``from_pretrained`` once the weights are in (a family restores what loading resets)."""

    # ---- evaluation ---------------------------------------------------------------------------
    def extra_metrics(self, dataloader, max_batches: int | None = None, iw_samples: int = 20) -> dict:
        """The family's own metrics on ``dataloader`` (a VAE's IW-NLL, ELECTRA's AUC); none by default."""
        return {}

    def evaluation_report(self, dataloader, texts: list[str], teacher_forced: dict, *, eval_data=None, max_batches=None, iw_samples: int = 20, batch_size: int = 64, examples: int = 5) -> dict:
        """Everything the family reports after training or under ``textae eval``, beside the
        teacher-forced figures ``teacher_forced`` that the caller measured on ``dataloader``."""
        report = dict(self.extra_metrics(dataloader, max_batches, iw_samples))
        if self.offers(RECONSTRUCT) and texts:
            from ..metrics.evaluation import reconstruction_scores

            report["reconstruction"] = reconstruction_scores(self, texts, batch_size, examples)
        return report

    def report_lines(self, metrics: dict) -> list[str]:
        """The printed summary of ``metrics`` (what :meth:`evaluation_report` and the loop measured)."""
        ev = metrics["eval"]
        if "ppl" in ev:
            lines = [f"eval: loss {ev['loss']:.4f}, NLL/sentence {ev['nll_per_sentence']:.3f} nats, PPL {ev['ppl']:.3f} ({metrics['token_unit']})"]
        else:
            lines = [f"eval: loss {ev['loss']:.4f}"]
        lines.extend(self.metric_lines(metrics))
        rec = metrics.get("reconstruction")
        if rec:
            lines.append(f"reconstruction: exact match {rec['exact_match']:.2%}, token accuracy {rec['token_accuracy']:.2%}, BLEU {rec['bleu']:.1f}")
            lines.extend(f"  in : {ex['input']}\n  out: {ex['output']}" for ex in rec["examples"])
        return lines

    def metric_lines(self, metrics: dict) -> list[str]:
        """The printed lines of the family's own metrics (between the eval loss and reconstructions)."""
        return []
