"""The denoising autoencoder: reconstruct the clean sentence from a corrupted one.

The corruption is the config's ``noise`` (TSDAE's deletion of 60% of the tokens by default), applied
afresh each epoch by the collator, plus the optional continuous noises of the core (embedding white
noise, standard / spatial dropout of the encoder states). With a pretrained encoder and a decoder
initialised from the same checkpoint this is TSDAE (Wang et al. 2021).

A ``consistency`` loss weight > 0 pulls the embedding of the corrupted sentence toward a clean
target, 1 − cos(z_noisy, target). ``consistency_target="self"``: the target is the model's own
embedding of the clean sentence, sg[z_clean]. ``consistency_target="teacher"``: it is the embedding
of the clean sentence by a frozen copy of the encoder as training starts (distillation of the
pretrained encoder onto noisy input), and an ``anchor`` weight > 0 adds 1 − cos(z_clean, teacher),
which keeps the clean embeddings where the pretrained model put them. A ``reconstruction`` weight of
0 then trains the encoder alone (the decoder is not run in training).

A ``contrastive`` weight > 0 adds an in-batch InfoNCE term over the same targets: each corrupted
sentence's embedding must be closer (cosine ÷ ``contrastive_temperature``) to its own clean target
than to the other sentences' of the batch, so the noisy embeddings cannot drift together.

A ``word_consistency`` weight > 0 (teacher target, no reconstruction) distils at the level of words:
each word of the corrupted sentence (the mean of its token states) is pulled toward the teacher's
state of the same clean word, 1 − cos, over the words the noise kept in place (a misspelt word is
still word k; see the collator's ``word_ids``). A misspelling becomes other word pieces; this term
tells the student, piece by piece, what those pieces stand for.
"""

import copy
import dataclasses

import torch
import torch.nn.functional as F

from ..noise import TSDAE_DELETION_RATE
from .base import TextAEOutput, TextAutoencoderConfig, TextAutoencoderModel
from .losses import cosine_distance, word_cosine_distance

TSDAE_NOISE = [{"name": "delete_tokens", "rate": TSDAE_DELETION_RATE}]
CONSISTENCY_TARGETS = ("self", "teacher")


class ConsistencyMixin:
    """The ``consistency`` term any autoencoder family may weight (0 by default, and then not
    computed): 1 − cos(z_noisy, target) from a batch's clean inputs, the target being the model's own
    embedding of the clean sentence, sg[z_clean]. The DAE adds the teacher target below."""

    clean_input_terms: tuple[str, ...] = ("consistency",)  # terms that read a batch's clean inputs

    def default_loss_weights(self) -> dict[str, float]:
        return {**super().default_loss_weights(), "consistency": 0.0}

    def batch_spec(self, loss_weights=None):
        # the terms compare with the clean sentence's embedding; named, even at weight 0, it is built
        named = bool(set(self.clean_input_terms) & set({**(self.config.loss_weights or {}), **(loss_weights or {})}))
        return dataclasses.replace(super().batch_spec(loss_weights), clean_inputs=named)

    def consistency_loss(self, noisy_latent: torch.Tensor, clean_input_ids: torch.Tensor, clean_attention_mask: torch.Tensor, **condition) -> torch.Tensor:
        """1 − cos(z_noisy, sg[z_clean]), averaged over the batch: pulls the embedding of the corrupted
        sentence toward that of the clean one, which is a fixed target (no gradient through it)."""
        with torch.no_grad():
            clean = self.encode_latent(clean_input_ids, clean_attention_mask, **condition).latent
        return cosine_distance(noisy_latent, clean)

    def consistency_terms(self, latent, clean_input_ids, clean_attention_mask, weights: dict, condition: dict, noisy_states=None, words=(None, None)) -> dict:
        """The weighted terms that compare the noisy embeddings ``latent`` with the clean inputs
        (``noisy_states``: the encoder's token states of the noisy input where the step has them;
        ``words``: the batch's ``word_ids`` / ``clean_word_ids``)."""
        if weights["consistency"] > 0:
            return {"consistency": self.consistency_loss(latent, clean_input_ids, clean_attention_mask, **condition)}
        return {}

    def skips_decoder(self, weights: dict) -> bool:
        """Whether this training step needs no decoder (no reconstruction to weigh)."""
        return False

    def forward(self, input_ids=None, attention_mask=None, labels=None, latent=None, loss_weights=None, **inputs) -> TextAEOutput:
        # the clean view of the batch: ``clean_input_ids`` / ``clean_attention_mask`` [B, S]
        clean = inputs.pop("clean_input_ids", None), inputs.pop("clean_attention_mask", None)
        words = inputs.pop("word_ids", None), inputs.pop("clean_word_ids", None)
        if latent is not None or clean[0] is None:
            return super().forward(input_ids, attention_mask, labels, latent, loss_weights, **inputs)
        weights = self.resolved_loss_weights(loss_weights)
        condition = {k: inputs[k] for k in self.condition_keys if k in inputs}
        states = None
        if self.skips_decoder(weights):
            bottleneck = self.encode_latent(input_ids, attention_mask, sample=inputs.get("sample"), **condition)
            out = TextAEOutput(latent=bottleneck.latent, loss_terms=dict(bottleneck.losses), stats=dict(bottleneck.stats))
            states = bottleneck.encoder_states
        else:
            out = super().forward(input_ids, attention_mask, labels, None, loss_weights, **inputs)
            if words[0] is not None and weights.get("word_consistency", 0.0) > 0:  # evaluation runs the decoder: the word term needs the token states too
                states = self.encode_latent(input_ids, attention_mask, **condition).encoder_states
        terms = self.consistency_terms(out.latent, *clean, weights, condition, noisy_states=states, words=words)
        if terms or out.loss is None:
            out.loss_terms.update(terms)
            out.loss = self.combine_losses(out.loss_terms, loss_weights)
        return out


class TextDAEConfig(TextAutoencoderConfig):
    """Args (beyond :class:`TextAutoencoderConfig`):
    consistency_target: "self" (the model's own clean embedding) or "teacher" (a frozen copy of the
        initial encoder's clean embedding) as the target of the ``consistency`` term.
    """

    model_type = "textae_dae"
    default_bottleneck = "identity"

    consistency_target: str = "self"
    contrastive_temperature: float = 0.05

    def _weighted(self, term: str) -> bool:
        weight = (self.loss_weights or {}).get(term)
        return bool(weight) if not isinstance(weight, dict) else True

    @classmethod
    def default_noise(cls) -> list[dict]:
        return [dict(step) for step in TSDAE_NOISE]

    def __post_init__(self, **kwargs):
        if self.noise is None:
            self.noise = self.default_noise()
        if self.consistency_target not in CONSISTENCY_TARGETS:
            raise ValueError(f"consistency_target must be one of {CONSISTENCY_TARGETS}, got {self.consistency_target!r}")
        if not self.contrastive_temperature > 0:
            raise ValueError(f"contrastive_temperature must be > 0, got {self.contrastive_temperature}")
        if (self.loss_weights or {}).get("anchor") and self.consistency_target != "teacher":
            raise ValueError("the anchor term needs consistency_target='teacher' (it anchors to the frozen teacher)")
        if self._weighted("word_consistency") and (self.consistency_target != "teacher" or (self.loss_weights or {}).get("reconstruction", 1.0) != 0):
            raise ValueError("the word_consistency term needs consistency_target='teacher' and loss_weights.reconstruction: 0 (it distils the teacher's word states into an encoder trained alone)")
        super().__post_init__(**kwargs)


class TextDAE(ConsistencyMixin, TextAutoencoderModel):
    """Denoising sentence autoencoder: ``encode(texts, batch_size, normalize) → [N, d]`` embeddings that
    stay put under noisy input; ``reconstruct`` gives back clean text."""

    config_class = TextDAEConfig
    clean_input_terms = ("consistency", "anchor", "contrastive", "word_consistency")

    def default_loss_weights(self) -> dict[str, float]:
        # anchor, contrastive and word_consistency are optional like consistency: computed only when weighted
        return {**super().default_loss_weights(), "anchor": 0.0, "contrastive": 0.0, "word_consistency": 0.0}

    def batch_spec(self, loss_weights=None):
        # the word term compares words: batches carry which word each token belongs to
        named = "word_consistency" in {**(self.config.loss_weights or {}), **(loss_weights or {})}
        return dataclasses.replace(super().batch_spec(loss_weights), word_ids=named)

    def prepare_for_training(self) -> None:
        super().prepare_for_training()
        if self.config.consistency_target == "teacher":
            self.freeze_teacher()  # the initial (pretrained) encoder, whatever a resume loads later

    def freeze_teacher(self) -> None:
        """Makes a frozen copy of the encoder and bottleneck as they are now the teacher of
        ``consistency_target="teacher"``. It lives outside the module tree: no parameter of the model,
        absent from ``state_dict`` and the saved safetensors, never in eval/train switches or the
        optimizer. The training build calls this once the pretrained weights are in (before a resume
        restores later ones); otherwise the first forward that needs the teacher does."""
        modules = torch.nn.ModuleDict({"encoder": self.encoder, "bottleneck": self.bottleneck})
        self.__dict__["_teacher"] = copy.deepcopy(modules).eval().requires_grad_(False)

    @torch.no_grad()
    def teacher_latent(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The frozen teacher's embeddings [B, d] of encoder inputs [B, S] (no dropout, no gradient)."""
        return self.teacher_outputs(input_ids, attention_mask)[0]

    @torch.no_grad()
    def teacher_outputs(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        """(embeddings [B, d], token states [B, S, H]) of the frozen teacher."""
        if self.__dict__.get("_teacher") is None:
            self.freeze_teacher()
        teacher = self.__dict__["_teacher"].to(input_ids.device)
        states = teacher["encoder"](input_ids, attention_mask)
        return teacher["bottleneck"](states, sample=False).latent, states.states

    def skips_decoder(self, weights: dict) -> bool:
        # distillation alone (teacher target, reconstruction weight 0): the decoder is not run in training
        return self.config.consistency_target == "teacher" and self.training and float(weights["reconstruction"]) == 0.0

    def consistency_terms(self, latent, clean_input_ids, clean_attention_mask, weights: dict, condition: dict, noisy_states=None, words=(None, None)) -> dict:
        if self.config.consistency_target != "teacher":
            terms = super().consistency_terms(latent, clean_input_ids, clean_attention_mask, weights, condition)
            if weights["contrastive"] > 0:
                with torch.no_grad():
                    target = self.encode_latent(clean_input_ids, clean_attention_mask).latent
                terms["contrastive"] = self.contrastive_loss(latent, target)
            return terms
        target, target_states = self.teacher_outputs(clean_input_ids, clean_attention_mask)
        terms = {}
        if weights["word_consistency"] > 0:
            if noisy_states is None or words[0] is None:
                raise ValueError("word_consistency needs the batch's word_ids (the collator's word_ids=True)")
            terms["word_consistency"] = word_cosine_distance(noisy_states.states, words[0], target_states, words[1])
        if weights["consistency"] > 0:
            terms["consistency"] = cosine_distance(latent, target)
        if weights["anchor"] > 0:
            terms["anchor"] = cosine_distance(self.encode_latent(clean_input_ids, clean_attention_mask).latent, target)
        if weights["contrastive"] > 0:
            terms["contrastive"] = self.contrastive_loss(latent, target)
        return terms

    def contrastive_loss(self, noisy: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """InfoNCE over the batch: noisy [B, d] against the clean targets [B, d] (no gradient through
        them); row i's positive is target i, the other rows' targets are its negatives."""
        logits = F.normalize(noisy.float(), dim=-1) @ F.normalize(targets.float().detach(), dim=-1).T / self.config.contrastive_temperature
        return F.cross_entropy(logits, torch.arange(noisy.shape[0], device=noisy.device))
