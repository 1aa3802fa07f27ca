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
"""

import copy

import torch

from ..noise import TSDAE_DELETION_RATE
from .base import TextAEOutput, TextAutoencoderConfig, TextAutoencoderModel, cosine_distance

TSDAE_NOISE = [{"name": "delete_tokens", "rate": TSDAE_DELETION_RATE}]
CONSISTENCY_TARGETS = ("self", "teacher")


class TextDAEConfig(TextAutoencoderConfig):
    """Args (beyond :class:`TextAutoencoderConfig`):
    consistency_target: "self" (the model's own clean embedding) or "teacher" (a frozen copy of the
        initial encoder's clean embedding) as the target of the ``consistency`` term.
    """

    model_type = "textae_dae"
    default_bottleneck = "identity"

    consistency_target: str = "self"

    @classmethod
    def default_noise(cls) -> list[dict]:
        return [dict(step) for step in TSDAE_NOISE]

    def __post_init__(self, **kwargs):
        if self.noise is None:
            self.noise = self.default_noise()
        if self.consistency_target not in CONSISTENCY_TARGETS:
            raise ValueError(f"consistency_target must be one of {CONSISTENCY_TARGETS}, got {self.consistency_target!r}")
        if (self.loss_weights or {}).get("anchor") and self.consistency_target != "teacher":
            raise ValueError("the anchor term needs consistency_target='teacher' (it anchors to the frozen teacher)")
        super().__post_init__(**kwargs)


class TextDAE(TextAutoencoderModel):
    """Denoising sentence autoencoder: ``encode(texts, batch_size, normalize) → [N, d]`` embeddings that
    stay put under noisy input; ``reconstruct`` gives back clean text."""

    config_class = TextDAEConfig

    def default_loss_weights(self) -> dict[str, float]:
        # anchor is optional like consistency: computed only when weighted (teacher target)
        return {**super().default_loss_weights(), "anchor": 0.0}

    def prepare_for_training(self) -> None:
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
        if self.__dict__.get("_teacher") is None:
            self.freeze_teacher()
        teacher = self.__dict__["_teacher"].to(input_ids.device)
        return teacher["bottleneck"](teacher["encoder"](input_ids, attention_mask), sample=False).latent

    def forward(self, input_ids=None, attention_mask=None, labels=None, latent=None, clean_input_ids=None, clean_attention_mask=None, loss_weights=None, **kwargs) -> TextAEOutput:
        if self.config.consistency_target != "teacher" or latent is not None or clean_input_ids is None:
            return super().forward(input_ids, attention_mask, labels, latent, clean_input_ids=clean_input_ids, clean_attention_mask=clean_attention_mask, loss_weights=loss_weights, **kwargs)
        weights = self.resolved_loss_weights(loss_weights)
        if self.training and float(weights["reconstruction"]) == 0.0:  # distillation alone: no decoder
            bottleneck = self.encode_latent(input_ids, attention_mask, sample=kwargs.get("sample"))
            out = TextAEOutput(latent=bottleneck.latent, loss_terms=dict(bottleneck.losses), stats=dict(bottleneck.stats))
        else:
            out = super().forward(input_ids, attention_mask, labels, loss_weights=loss_weights, **kwargs)
        target = self.teacher_latent(clean_input_ids, clean_attention_mask)
        if weights["consistency"] > 0:
            out.loss_terms["consistency"] = cosine_distance(out.latent, target)
        if weights["anchor"] > 0:
            out.loss_terms["anchor"] = cosine_distance(self.encode_latent(clean_input_ids, clean_attention_mask).latent, target)
        out.loss = self.combine_losses(out.loss_terms, loss_weights)
        return out
