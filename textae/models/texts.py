"""The texts-in, texts-out API of every autoencoder family: ``encode`` (texts → latents),
``encode_iter``, ``decode`` (latents → texts), ``reconstruct``, and the length-sorted batching they
share. A mixin of :class:`~textae.models.base.TextAutoencoderModel`."""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F

from ..inputs import as_texts, check_latent
from ..tensors import pad_sequences
from .hf import eval_mode

logger = logging.getLogger(__name__)


def length_sorted_batches(n_items: list[int], batch_size: int):
    """Index batches in descending length order (less padding); callers restore the input order."""
    order = sorted(range(len(n_items)), key=lambda i: -n_items[i])
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


class AutoencoderTexts:
    """``encode`` / ``encode_iter`` / ``decode`` / ``reconstruct`` over texts."""

    def encoder_input(self, ids: list[int]) -> list[int]:
        """Token ids of x (no specials) → the encoder's input: the tokenizer's template around them."""
        return [*self.config.encoder_prefix_ids, *ids, *self.config.encoder_suffix_ids]

    @torch.no_grad()  # not inference_mode: the vectors may serve as targets in a later autograd graph
    def encode(self, texts: list[str], batch_size: int = 64, normalize: bool = False, sample: bool = False, **condition) -> torch.Tensor:
        """texts → latents [N, d] (the posterior mean unless ``sample``); batches are length-sorted.
        A conditioned family takes each text's value of its ``condition_keys`` columns ([N] each).

        A text with no token (empty, whitespace-only, or only characters the tokenizer drops)
        encodes to the zero vector, whatever the family: it has no content, so no direction (its
        cosine similarity to anything is 0); a warning counts such texts. Texts longer than
        ``config.max_seq_length`` tokens are truncated, with a warning. Texts are tokenized a chunk
        at a time, so memory beyond the [N, d] result stays bounded; :meth:`encode_iter` takes an
        iterable (a file, a stream) and yields blocks."""
        self.refuse_condition(condition)
        condition = {k: torch.as_tensor(v) for k, v in condition.items() if v is not None}
        specials = len(self.config.encoder_prefix_ids) + len(self.config.encoder_suffix_ids)
        blank = 0

        def latents(input_ids, mask, rows):
            nonlocal blank
            z = self.encode_latent(input_ids, mask, sample=sample, **{k: v[rows].to(self.device) for k, v in condition.items()}).latent
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
        pad_id = self.config.encoder_token_ids()["pad_token_id"]
        with eval_mode(self):
            out = None
            for start in range(0, len(texts), chunk_size):
                ids = [self.encoder_input(x) for x in self._tokenize(list(texts[start : start + chunk_size]))]
                for batch in length_sorted_batches([len(s) for s in ids], batch_size):
                    input_ids, mask = (t.to(self.device) for t in pad_sequences([ids[i] for i in batch], pad_id))
                    rows = torch.tensor(batch) + start
                    result = fn(input_ids, mask, rows)
                    result = result.float().cpu() if result.is_floating_point() else result.cpu()
                    if out is None:
                        out = torch.empty((len(texts), *result.shape[1:]), dtype=result.dtype)
                    out[rows] = result  # in the input order
        return out

    @torch.no_grad()
    def decode(self, latent: torch.Tensor, max_new_tokens: int | None = None, **generate_kwargs) -> list[str]:
        """latents [N, d] → texts, through ``generate`` (greedy unless ``do_sample=True``); a
        conditioned family passes each row's condition columns on to ``generate``."""
        latent = check_latent(latent, self.config.latent_dim).to(self.device, self.dtype)
        kwargs = self._generation_defaults(max_new_tokens, generate_kwargs)
        ids = self.generate(input_ids=self._bos(latent.shape[0]), latent=latent, **kwargs)
        return self._decode_ids(ids[:, 1:])

    @torch.no_grad()
    def reconstruct(self, texts: list[str], batch_size: int = 64, **generate_kwargs) -> list[str]:
        """texts → encode → decode (greedy)."""
        texts = as_texts(texts)
        out: list[str] = []
        for i in range(0, len(texts), batch_size):
            out.extend(self.decode(self.encode(texts[i : i + batch_size], batch_size=batch_size), **generate_kwargs))
        return out
