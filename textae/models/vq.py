"""The VQ-VAE text tokenizer: a sentence becomes a short sequence of discrete codes and back.

Encoder token states, windows of r tokens pooled, each window quantized to its nearest codebook
vector(s) (:class:`~textae.modules.vq.VQBottleneck`); the decoder reconstructs the text by
cross-attending to the code vectors, one memory slot per position. Loss: reconstruction + codebook
+ β · commitment, β = 0.25 by default (``loss_weights``). A prior over codes (the textae AR LM
trained on code sequences, :mod:`textae.training.prior`) makes it generative.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from ..inputs import check_sampling
from ..tensors import pad_sequences
from . import protocol
from .base import TextAutoencoderConfig, TextAutoencoderModel, length_sorted_batches
from .dae import ConsistencyMixin
from .hf import eval_mode

DEFAULT_BETA = 0.25
CODE_PREFIX = "c"  # a code id n is the word "c<n>" in the prior's vocabulary


class TextVQVAEConfig(TextAutoencoderConfig):
    """The VQ family: ``bottleneck_options`` are :class:`~textae.modules.vq.VQBottleneck`'s
    (``downsample``, ``codebook_size``, ``heads``, ``levels``, ``codebook_dim``, ``cosine``, ``ema``,
    ``decay``, ``kmeans_init``, ``dead_code_steps`` ...); the commitment weight β is
    ``loss_weights.commitment`` (0.25 unless set).

    Args:
        align_codes: besides cross-attending to every code, the decoder adds the code vector of the
            window holding the token it predicts to its input there (the codes upsampled to the
            token rate); without it the decoder must learn that alignment through attention alone,
            which is much slower to train.
    """

    model_type = "textae_vq"
    default_bottleneck = "vq"

    inject_embedding: bool = False
    align_codes: bool = True

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        self.loss_weights.setdefault("commitment", DEFAULT_BETA)


class TextVQVAE(ConsistencyMixin, TextAutoencoderModel):
    """``encode_codes(texts) → list[list[int]]``, ``decode_codes(codes) → texts``, ``reconstruct``;
    ``encode(texts)`` gives one vector per sentence (the mean of its code vectors); ``sample(n)``
    decodes codes drawn from an attached prior (:meth:`load_prior`). See
    :class:`textae.VQTextTokenizer` for the tokenizer-shaped interface."""

    config_class = TextVQVAEConfig
    operations = TextAutoencoderModel.operations | {protocol.ENCODE_CODES, protocol.ATTACH_PRIOR, protocol.SAMPLE}

    def offers(self, operation: str) -> bool:
        # sampling draws codes from a prior: offered once one is attached
        return super().offers(operation) and (operation != protocol.SAMPLE or self.prior is not None)

    def __init__(self, config: TextVQVAEConfig):
        super().__init__(config)
        if config.align_codes:
            self._init_weights(self.decoder.align_latent(self.bottleneck.downsample, config.latent_dim))

    def forward(self, input_ids=None, attention_mask=None, labels=None, latent=None, loss_weights=None, latent_mask=None, **inputs):
        # named here so that HF's generate accepts the codes' latent_mask and passes it to every step
        return super().forward(input_ids, attention_mask, labels, latent, loss_weights, latent_mask=latent_mask, **inputs)

    def extra_metrics(self, dataloader, max_batches: int | None = None, iw_samples: int = 20) -> dict:
        """Codebook usage, perplexity, dead codes, bits per token / sentence, compression: see :func:`vq_report`."""
        from ..metrics.vq import vq_report

        return {"vq": vq_report(self, dataloader, max_batches=max_batches)}

    # ---- codes ---------------------------------------------------------------------------------
    @property
    def codes_per_position(self) -> int:
        return self.bottleneck.groups

    @property
    def codebook_size(self) -> int:
        return self.bottleneck.codebook_size

    @property
    def code_vocab_size(self) -> int:
        """Distinct flat code ids: groups × K."""
        return self.codes_per_position * self.codebook_size

    def _encoded_batches(self, texts: list[str], batch_size: int, chunk_size: int = 8192):
        """(text indices, bottleneck output) per length-sorted batch, in eval mode; texts are tokenized
        a chunk at a time (bounded memory for many texts)."""
        for start in range(0, len(texts), chunk_size):
            ids = [self.encoder_input(x) for x in self._tokenize(list(texts[start : start + chunk_size]))]
            for batch in length_sorted_batches([len(s) for s in ids], batch_size):
                input_ids, mask = (t.to(self.device) for t in pad_sequences([ids[i] for i in batch], self.config.pad_token_id))
                yield [start + i for i in batch], self.encode_latent(input_ids, mask)

    @torch.no_grad()
    def encode_codes(self, texts: list[str], batch_size: int = 64) -> list[list[int]]:
        """texts → flat code ids per sentence: position-major, G codes a position, id = g · K + k."""
        if isinstance(texts, str):
            texts = [texts]
        with eval_mode(self):
            out: list[list[int]] = [[] for _ in texts]
            offsets = torch.arange(self.codes_per_position, device=self.device) * self.codebook_size
            for batch, enc in self._encoded_batches(texts, batch_size):
                flat = enc.indices + offsets
                for row, i in enumerate(batch):
                    out[i] = flat[row][enc.latent_mask[row].bool()].flatten().tolist()
        return out

    def codes_to_indices(self, codes: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Flat code ids per sentence → indices [N, L, G] and mask [N, L]; a wrong length or an id
        outside its group's range is an error that names it."""
        g, k = self.codes_per_position, self.codebook_size
        rows = []
        for n, seq in enumerate(codes):
            seq = [int(c) for c in seq]
            if not seq or len(seq) % g:
                raise ValueError(f"sentence {n}: {len(seq)} codes; need a positive multiple of {g} (codes per position)")
            for j, c in enumerate(seq):
                if not j % g * k <= c < (j % g + 1) * k:
                    raise ValueError(f"sentence {n}, code {j}: id {c} is outside group {j % g}'s range [{j % g * k}, {(j % g + 1) * k})")
            rows.append([c - (j % g) * k for j, c in enumerate(seq)])
        flat, mask = pad_sequences(rows, 0)
        positions = -(-flat.shape[1] // g)
        indices = F.pad(flat, (0, positions * g - flat.shape[1])).view(len(rows), positions, g)
        return indices.to(self.device), mask[:, ::g].to(self.device)

    @torch.no_grad()
    def codes_to_latent(self, codes: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Flat code ids → (latent [N, L, d], latent_mask [N, L]), what the decoder reads."""
        indices, mask = self.codes_to_indices(codes)
        latent, _ = self.bottleneck.latent_from_indices(indices, mask)
        return latent, mask

    @torch.no_grad()
    def decode_codes(self, codes: list[list[int]], batch_size: int = 64, **generate_kwargs) -> list[str]:
        """Flat code ids per sentence → texts (greedy unless ``do_sample=True``)."""
        with eval_mode(self):
            out: list[str] = []
            for i in range(0, len(codes), batch_size):
                latent, mask = self.codes_to_latent(codes[i : i + batch_size])
                out.extend(self.decode(latent, latent_mask=mask, **generate_kwargs))
        return out

    # ---- the autoencoder API, per position -------------------------------------------------------
    @torch.no_grad()
    def decode(self, latent: torch.Tensor, max_new_tokens: int | None = None, latent_mask: torch.Tensor | None = None, **generate_kwargs) -> list[str]:
        """latent [N, L, d] (with ``latent_mask`` [N, L]) or [N, d] (one position) → texts."""
        if latent.dim() == 2:
            latent = latent[:, None]
        if latent_mask is not None:
            generate_kwargs["latent_mask"] = latent_mask.to(self.device)
        return super().decode(latent, max_new_tokens=max_new_tokens, **generate_kwargs)

    @torch.no_grad()
    def encode(self, texts: list[str], batch_size: int = 64, normalize: bool = False, sample: bool = False) -> torch.Tensor:
        """texts → one vector per sentence [N, d]: the mean of its code vectors (positions left out)."""
        if isinstance(texts, str):
            texts = [texts]
        with eval_mode(self):
            out = torch.zeros(len(texts), self.config.latent_dim)
            for batch, enc in self._encoded_batches(texts, batch_size):
                weights = enc.latent_mask.float()[..., None]
                pooled = (enc.quantized * weights).sum(1) / weights.sum(1).clamp(min=1)
                out[torch.tensor(batch)] = pooled.float().cpu()
        return F.normalize(out, dim=-1) if normalize else out

    @torch.no_grad()
    def reconstruct(self, texts: list[str], batch_size: int = 64, **generate_kwargs) -> list[str]:
        """texts → codes → texts (greedy): exactly what the tokenizer round trip gives."""
        return self.decode_codes(self.encode_codes(texts, batch_size), batch_size, **generate_kwargs)

    # ---- the prior over codes ---------------------------------------------------------------------
    prior = None  # a TextLM over code words "c<id>", attached by load_prior / attach_prior

    def attach_prior(self, lm) -> None:
        """Uses ``lm`` (a TextLM whose tokenizer's words are the codes "c<id>") as the prior; it is
        kept outside this model's modules, so it is neither saved nor trained with it."""
        object.__setattr__(self, "prior", lm.eval())

    def load_prior(self, path: str | Path) -> None:
        """Attaches the prior saved at ``path`` (a model folder or a run folder with ``model/``)."""
        from transformers import AutoModel

        folder = Path(path)
        folder = folder / "model" if (folder / "model" / "config.json").exists() else folder
        self.attach_prior(AutoModel.from_pretrained(str(folder)).to(self.device))

    @torch.no_grad()
    def sample_codes(self, n: int = 1, temperature: float = 1.0, top_p: float = 1.0) -> list[list[int]]:
        """n code sequences drawn from the prior; each step may only take a code of its group, and
        the sequence may end only after whole positions."""
        from transformers import LogitsProcessorList

        if self.prior is None:
            raise ValueError("no prior over codes attached: train one (python -m textae.training.prior RUN_DIR) and load_prior it")
        lm = self.prior
        processor = CodeGroupLogitsProcessor(lm.tokenizer, self.codes_per_position, self.codebook_size, lm.config.eos_token_id)
        # the prior's own length limit (its longest training sequence) + EOS
        kwargs = lm._generation_defaults(None, {"do_sample": True, "temperature": temperature, "top_p": top_p})
        ids = lm.generate(input_ids=lm._bos(n), logits_processor=LogitsProcessorList([processor]), **kwargs)[:, 1:]
        out = []
        for row in ids.tolist():
            row = row[: row.index(lm.config.eos_token_id)] if lm.config.eos_token_id in row else row
            codes = [processor.code_of[t] for t in row if processor.code_of.get(t) is not None]
            out.append(codes[: len(codes) - len(codes) % self.codes_per_position])  # whole positions only
        return out

    @torch.no_grad()
    def sample(self, n: int = 1, temperature: float = 1.0, top_p: float = 1.0, **generate_kwargs) -> list[str]:
        """n sentences: codes sampled from the prior, decoded greedily."""
        check_sampling(n, temperature, top_p)
        codes = self.sample_codes(n, temperature, top_p)
        keep = [i for i, c in enumerate(codes) if c]  # an empty draw decodes to ""
        texts = self.decode_codes([codes[i] for i in keep], **generate_kwargs) if keep else []
        out = [""] * n
        for i, text in zip(keep, texts):
            out[i] = text
        return out


class CodeGroupLogitsProcessor:
    """Restricts a prior's next token to the codes of the group due at this step (position-major,
    G codes a position), and allows EOS only between positions."""

    def __init__(self, tokenizer, groups: int, codebook_size: int, eos_token_id: int):
        vocab = tokenizer.get_vocab()
        size = max(vocab.values()) + 1
        self.code_of: dict[int, int | None] = {}
        self.groups = groups
        self.allowed = torch.zeros(groups, size, dtype=torch.bool)
        for word, token in vocab.items():
            code = int(word[len(CODE_PREFIX) :]) if word.startswith(CODE_PREFIX) and word[len(CODE_PREFIX) :].isdigit() else None
            self.code_of[token] = code
            if code is not None and code < groups * codebook_size:
                self.allowed[code // codebook_size, token] = True
        self.eos = eos_token_id

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        step = input_ids.shape[1] - 1  # tokens generated after BOS
        allowed = torch.zeros(scores.shape[-1], dtype=torch.bool, device=scores.device)
        width = min(scores.shape[-1], self.allowed.shape[1])
        allowed[:width] = self.allowed[step % self.groups, :width].to(scores.device)
        if step % self.groups == 0 and step > 0:
            allowed[self.eos] = True
        return scores.masked_fill(~allowed, float("-inf"))
