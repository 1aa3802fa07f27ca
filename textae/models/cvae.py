"""The conditional text VAE: a label y joined to the Gaussian latent (Sohn et al. 2015; Hu et al. 2017).

Training maximises the conditional ELBO  E_q(z|x,y) log p(x | z, y) − KL(q(z | x, y) ‖ N(0, I)): the
label embedding is added to the encoder's pooled state (q(z | x, y)) and joined to z for the decoder
(p(x | z, y)); see :class:`~textae.modules.conditioning.LabelConditioning`. At inference
z ~ N(0, I) is joined to the label asked for. Labels are the names in ``config.id2label`` (the
training loop fills it from the data's label column; it is saved with the model).

API (texts in, texts out; labels by name or id):

* ``sample(n, label=..., temperature=..., top_p=..., greedy=...)`` — n sentences of a label;
* ``generate(label=..., n=...)`` — the same: with ``label=`` or ``n=`` the HF method dispatches to
  :meth:`sample` and returns texts; without them it is HF's ``generate`` (token ids), which
  ``decode`` uses with ``latent=`` and ``class_label=``;
* ``transfer(texts, to_label=..., from_label=None)`` — posterior mean of z under the source label,
  decoded with the target label;
* ``reconstruct(texts, labels=None)``, ``encode(texts, labels=None)``, ``decode(z, label=...)``,
  ``interpolate(a, b, label=...)``;
* ``guidance=γ`` on any of the decoding calls — contrastive label guidance: each step's word scores
  are pushed away from what the decoder predicts under the other labels (see :mod:`textae.models.guidance`);
* ``predict_labels(texts)`` — the label probe on the encoder (what stands in for a missing source label);
* ``fit_label_latents(texts, labels)`` — each label's aggregate posterior q(z | y), fitted as a
  diagonal Gaussian over the posteriors of that label's texts and saved in the config. Once fitted,
  ``sample`` draws z from the asked label's Gaussian instead of N(0, I), and ``transfer`` moves z by
  the difference of the two labels' means (Optimus-style latent arithmetic); ``label_latents=False``
  turns either off. This matters because z is never free of the label: the words that carry the
  sentiment are content the decoder reconstructs from z, so q(z | y) differs between labels, and a z
  from N(0, I) brings a sentiment of its own that competes with the label asked for.

>>> from textae.models.cvae import TextCVAEConfig
>>> TextCVAEConfig(id2label={0: "negative", 1: "positive"}).label2id
{'negative': 0, 'positive': 1}
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..modules.conditioning import LabelConditioning
from . import protocol
from .base import TextAutoencoderModel
from .dae import ConsistencyMixin
from .vae import TextVAE, TextVAEConfig, VariationalMixin


class TextCVAEConfig(TextVAEConfig):
    """A :class:`TextVAEConfig` plus the label conditioning.

    Args:
        label_embedding_dim: size m of the label embedding joined to z (the decoder reads d + m).
        label_classifier: a linear probe reads the label off the (detached) pooled encoder state, loss
            term ``label``; it names the source label when ``transfer`` / ``reconstruct`` get none.
        label_adversary: > 0 puts a label adversary on the posterior mean (see
            :class:`~textae.modules.conditioning.LabelConditioning`); the value is the default weight
            of its ``label_confusion`` term, which pushes the label out of z. 0 (default): none.
        label_latents: ``{"mean": [K][d], "std": [K][d]}``, each label's aggregate posterior as a
            diagonal Gaussian (set by :meth:`TextCVAE.fit_label_latents`); None until fitted.
        id2label / label2id: the label names (HF's fields; set by the training loop from the data).
    """

    model_type = "textae_cvae"

    label_embedding_dim: int = 16
    label_classifier: bool = True
    label_adversary: float = 0.0
    label_latents: dict | None = None

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        if not self.label2id:  # given id2label alone, the names map back to their ids
            self.label2id = {str(name): int(i) for i, name in self.id2label.items()}


class TextCVAE(VariationalMixin, ConsistencyMixin, TextAutoencoderModel):
    """Label-controlled generation and label transfer; see the module docstring for the API."""

    config_class = TextCVAEConfig
    condition_keys = ("class_label",)  # the dataset's label column, as label ids
    operations = TextVAE.operations | {protocol.TRANSFER}

    # ---- the label conditioning: q(z | x, y) and p(x | z, y) ------------------------------------
    def build_conditioning(self) -> int:
        c = self.config
        if c.label_adversary < 0:
            raise ValueError(f"label_adversary is the weight of the label confusion term and must be ≥ 0, got {c.label_adversary}")
        adversary_dim = c.latent_dim if c.label_adversary > 0 else 0
        self.conditioning = LabelConditioning(
            c.num_labels, c.label_embedding_dim, self.encoder.hidden_size, classifier=c.label_classifier, adversary_latent_dim=adversary_dim
        )
        return self.conditioning.label_dim

    def default_loss_weights(self) -> dict[str, float]:
        weights = {name: 1.0 for name in self.conditioning.loss_terms}
        if "label_confusion" in weights:
            weights["label_confusion"] = float(self.config.label_adversary)
        return {**super().default_loss_weights(), **weights}

    def _class_label(self, class_label: torch.Tensor | None) -> torch.Tensor:
        if class_label is None:
            raise ValueError(f"{type(self).__name__} is conditioned on a label: pass class_label [B] (ids of {self.label_names})")
        return class_label

    def encode_latent(self, input_ids, attention_mask, sample=None, inputs_embeds=None, class_label: torch.Tensor | None = None):
        """input_ids [B, S] and label ids ``class_label`` [B] → the bottleneck's output: the label is
        added to the pooled state first, and the label probe's loss joins the bottleneck's."""
        class_label = self._class_label(class_label)
        encoded = self.encoder(input_ids, attention_mask, inputs_embeds=inputs_embeds)
        out = self.bottleneck(self.conditioning.condition_encoder(encoded, class_label), sample=sample)
        losses, stats = self.conditioning.losses(encoded.pooled, class_label, latent_mean=out.mean if out.mean is not None else out.latent)
        out.losses.update(losses)
        out.stats.update(stats)
        return out

    def decoder_latent(self, latent: torch.Tensor, class_label: torch.Tensor | None = None) -> torch.Tensor:
        """[z ; e(y)]: what the decoder is conditioned on."""
        return self.conditioning.condition_latent(latent, self._class_label(class_label).to(latent.device))

    def forward(self, input_ids=None, attention_mask=None, labels=None, latent=None, loss_weights=None, class_label=None, **inputs):
        # named here so that HF's generate accepts class_label and passes it to every step
        return super().forward(input_ids, attention_mask, labels, latent, loss_weights, class_label=class_label, **inputs)

    @torch.no_grad()
    def predict_class_label(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The label probe: label ids [B] of encoder inputs [B, S]."""
        return self.conditioning.predict(self.encoder(input_ids, attention_mask).pooled)

    # ---- labels ---------------------------------------------------------------------------------
    @property
    def label_names(self) -> list[str]:
        """The label names in id order."""
        return [str(self.config.id2label[i]) for i in range(self.config.num_labels)]

    def label_id(self, label: str | int) -> int:
        """A label name (or id) → its id; anything else raises a ValueError listing the known labels."""
        if isinstance(label, str) and label in self.config.label2id:
            return int(self.config.label2id[label])
        if isinstance(label, int) and not isinstance(label, bool) and 0 <= label < self.config.num_labels:
            return label
        raise ValueError(f"unknown label {label!r}; known labels: {self.label_names}")

    def label_ids(self, labels: str | int | Sequence | torch.Tensor, n: int) -> torch.Tensor:
        """One label for all ``n`` rows, or one per row (names or ids) → ids [n]."""
        if isinstance(labels, torch.Tensor):
            labels = labels.tolist()
        if isinstance(labels, (str, int)):
            return torch.full((n,), self.label_id(labels), dtype=torch.long)
        labels = list(labels)
        if len(labels) != n:
            raise ValueError(f"{len(labels)} labels for {n} rows")
        return torch.tensor([self.label_id(x) for x in labels], dtype=torch.long)

    @torch.no_grad()
    def predict_labels(self, texts: list[str], batch_size: int = 64) -> list[str]:
        """The label probe's names for ``texts`` (needs ``label_classifier``)."""
        return [self.label_names[i] for i in self._predicted_ids(texts, batch_size).tolist()]

    def _predicted_ids(self, texts: list[str], batch_size: int) -> torch.Tensor:
        return self.map_encoder_batches(texts, lambda ids, mask, rows: self.predict_class_label(ids, mask), batch_size).long()

    def _source_ids(self, texts: list[str], labels, batch_size: int) -> torch.Tensor:
        return self._predicted_ids(texts, batch_size) if labels is None else self.label_ids(labels, len(texts))

    # ---- each label's aggregate posterior q(z | y) -------------------------------------------------
    @torch.no_grad()
    def fit_label_latents(self, texts: list[str], labels, batch_size: int = 64) -> dict:
        """Fits q(z | y) = the average over a label's texts of q(z | x, y) as a diagonal Gaussian: mean
        m_y [d] = the mean of the posterior means, variance = their variance plus the mean posterior
        variance. ``labels``: one per text (names / ids). Stored in ``config.label_latents`` (saved with
        the model) and returned."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        ids = self.label_ids(labels, len(texts))
        d = self.config.latent_dim

        def moments(input_ids, mask, rows):
            out = self.encode_latent(input_ids, mask, class_label=ids[rows].to(self.device))
            if out.logvar is None:
                raise ValueError(f"{type(self.bottleneck).__name__} has no Gaussian posterior to fit label latents from")
            return torch.cat([out.mean, out.logvar.exp()], dim=-1)

        stats = self.map_encoder_batches(texts, moments, batch_size, empty=(0, 2 * d))
        means, stds = [], []
        for k, name in enumerate(self.label_names):
            rows = stats[ids == k]
            if len(rows) == 0:
                raise ValueError(f"no text of label {name!r} to fit its latent from")
            mu, var = rows[:, :d], rows[:, d:]
            means.append(mu.mean(0).tolist())
            stds.append((mu.var(0, unbiased=False) + var.mean(0)).sqrt().tolist())
        self.config.label_latents = {"mean": means, "std": stds}
        return self.config.label_latents

    def _label_latents(self, use: bool | None) -> tuple[torch.Tensor, torch.Tensor] | None:
        """(means [K, d], stds [K, d]) when they are to be used: ``use`` None → when fitted."""
        fitted = self.config.label_latents
        if use and not fitted:
            raise ValueError("label_latents=True needs fitted label latents: call fit_label_latents(texts, labels) first")
        if use is False or not fitted:
            return None
        return tuple(torch.tensor(fitted[key], dtype=torch.float32, device=self.device) for key in ("mean", "std"))

    # ---- the autoencoder API with labels --------------------------------------------------------
    @torch.no_grad()
    def encode(
        self, texts: list[str], batch_size: int = 64, normalize: bool = False, sample: bool = False, labels=None, class_label: torch.Tensor | None = None
    ) -> torch.Tensor:
        """texts → z [N, d] under q(z | x, y): ``labels`` (names / ids, one or one per text), else the probe's."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        if class_label is None:
            class_label = self._source_ids(texts, labels, batch_size)
        class_label = torch.as_tensor(class_label, dtype=torch.long)
        return super().encode(texts, batch_size=batch_size, normalize=normalize, sample=sample, class_label=class_label)

    @torch.no_grad()
    def decode(
        self, latent: torch.Tensor, max_new_tokens: int | None = None, label=None, class_label: torch.Tensor | None = None, guidance: float = 0.0, **generate_kwargs
    ) -> list[str]:
        """z [N, d] → texts of ``label`` (a name / id for all rows, or one per row). ``guidance`` γ > 0
        pushes each step's word scores away from the other labels' (:class:`~textae.models.guidance.LabelGuidance`);
        ``sample``, ``transfer`` and ``reconstruct`` pass it on."""
        if class_label is None:
            if label is None:
                raise ValueError(f"decoding a CVAE needs label= (one of {self.label_names}, or one per row)")
            class_label = self.label_ids(label, latent.shape[0])
        class_label = torch.as_tensor(class_label, dtype=torch.long, device=self.device)
        if guidance:
            from transformers import LogitsProcessorList

            from .guidance import LabelGuidance

            processor = LabelGuidance(self, latent.to(self.device, self.dtype), class_label, self.config.num_labels, guidance)
            generate_kwargs["logits_processor"] = LogitsProcessorList([*generate_kwargs.get("logits_processor", []), processor])
        return super().decode(latent, max_new_tokens=max_new_tokens, class_label=class_label, **generate_kwargs)

    @torch.no_grad()
    def reconstruct(self, texts: list[str], labels=None, batch_size: int = 64, **generate_kwargs) -> list[str]:
        """texts → z (posterior mean under their labels, else the probe's) → texts of the same labels."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        ids = self._source_ids(texts, labels, batch_size)
        return self._decode_encoded(texts, ids, ids, batch_size, generate_kwargs)

    @torch.no_grad()
    def transfer(self, texts: list[str], to_label, from_label=None, batch_size: int = 64, label_latents: bool | None = None, **generate_kwargs) -> list[str]:
        """Label transfer: z = the posterior mean of each text under its own label (``from_label``:
        given, one or one per text; else the probe's), moved by m_target − m_source when label latents
        are fitted (``label_latents``: None → when fitted), decoded greedily with ``to_label``."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        source = self._source_ids(texts, from_label, batch_size)
        return self._decode_encoded(texts, source, self.label_ids(to_label, len(texts)), batch_size, generate_kwargs, self._label_latents(label_latents))

    @torch.no_grad()
    def edit(
        self,
        texts: list[str],
        to_label,
        from_label=None,
        threshold: float = 0.0,
        guidance: float = 3.0,
        lookahead: int = 3,
        candidates: int = 8,
        max_share: float = 0.25,
        batch_size: int = 64,
        label_latents: bool | None = None,
    ) -> list[str]:
        """Label transfer by minimal edits (:func:`~textae.models.guidance.marker_edit`): each text is
        copied token by token, and the words the decoder ties to the source label (salience above
        ``threshold`` nats) are swapped for the target label's best word under label ``guidance``. z is
        the posterior mean under the source label (moved to the target's as in :meth:`transfer` when
        label latents are fitted). Keeps the content where :meth:`transfer` rewrites the sentence; a
        higher ``threshold`` keeps more of it and moves fewer sentences to the target label. Only words
        are swapped, never punctuation, and at most the ``max_share`` most salient words of a sentence.
        With ``lookahead`` m > 0 each swap is chosen among the ``candidates`` best words by how well the
        next m source tokens follow it, so it fits its slot. Texts are not cut to ``max_seq_length``.
        The defaults (γ = 3, a quarter of the words, lookahead 3) were chosen on SST-2 training
        sentences with benchmarks/cvae_edit_sweep.py."""
        from ..data.tokenization import encode_texts
        from .guidance import marker_edit, word_start_tokens

        texts = [texts] if isinstance(texts, str) else list(texts)
        source, target = self._source_ids(texts, from_label, batch_size), self.label_ids(to_label, len(texts))
        rows_out = self.get_input_embeddings().num_embeddings  # the decoder's rows
        starts, words = word_start_tokens(self.output_tokenizer, rows_out), word_start_tokens(self.output_tokenizer, rows_out, letters_only=True)
        room = self.decoder.positions_left()  # a text is edited whole, as far as the decoder's positions reach (its EOS after it)
        tokens = encode_texts(self.output_tokenizer, texts, 10**6 if room is None else room - 1)
        out: list[str] = []
        for rows, src, tgt, z in self._moved_latents(texts, source, target, batch_size, self._label_latents(label_latents)):
            ids = marker_edit(
                self, tokens[rows], z.to(self.device, self.dtype), src.to(self.device), tgt.to(self.device), starts, threshold, guidance, words, lookahead, candidates, max_share
            )
            out.extend(self.output_tokenizer.decode(row, skip_special_tokens=True) for row in ids)
        return out

    def _decode_encoded(self, texts: list[str], source: torch.Tensor, target: torch.Tensor, batch_size: int, generate_kwargs: dict, shift=None) -> list[str]:
        """Each text encoded under its ``source`` label id and decoded under its ``target`` one (z
        moved as :meth:`_moved_latents` moves it)."""
        out: list[str] = []
        for _, _, tgt, z in self._moved_latents(texts, source, target, batch_size, shift):
            out.extend(self.decode(z, class_label=tgt, **generate_kwargs))
        return out

    def _moved_latents(self, texts: list[str], source: torch.Tensor, target: torch.Tensor, batch_size: int, shift=None):
        """Per batch: (its rows as a slice, source ids, target ids, z [b, d]): each text's posterior mean
        under its source label; with ``shift`` = (label means, stds), moved by the difference of the
        two labels' means."""
        means = None if shift is None else shift[0].cpu()  # encode returns z on the CPU
        for i in range(0, len(texts), batch_size):
            rows = slice(i, i + batch_size)
            src, tgt = source[rows], target[rows]
            z = self.encode(texts[rows], batch_size=batch_size, class_label=src)
            yield rows, src, tgt, (z if means is None else z + means[tgt] - means[src])

    @torch.no_grad()
    def sample(
        self, n: int = 1, label=None, temperature: float = 1.0, top_p: float = 1.0, greedy: bool = True, label_latents: bool | None = None, **generate_kwargs
    ) -> list[str]:
        """n sentences of ``label``: z ~ N(0, temperature² I) joined to the label (with fitted label
        latents, ``label_latents`` None or True: z ~ N(m_y, temperature² diag(s_y²)), the label's own
        Gaussian), decoded greedily (or nucleus-sampled with ``greedy=False``). Without a label the
        rows cycle through every label."""
        z = self.prior_latent(n, temperature, top_p, greedy, generate_kwargs)
        ids = torch.arange(n) % self.config.num_labels if label is None else self.label_ids(label, n)
        fitted = self._label_latents(label_latents)
        if fitted is not None:
            means, stds = fitted
            rows = ids.to(z.device)
            z = means[rows] + z * stds[rows]
        return self.decode(z, class_label=ids, **generate_kwargs)

    def generate(self, inputs=None, *args, label=None, n: int | None = None, **kwargs):
        """With ``label=`` or ``n=``: ``n`` sentences of that label, as texts (see :meth:`sample`, which
        takes the other keywords). Otherwise HF's ``generate``, unchanged (token ids)."""
        if label is None and n is None:
            return super().generate(inputs, *args, **kwargs)
        if inputs is not None or args:
            raise TypeError("generate(label=..., n=...) takes keywords only; token-level generation takes no label= or n=")
        return self.sample(1 if n is None else n, label=label, **kwargs)
