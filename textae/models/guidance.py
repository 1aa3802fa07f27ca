"""Label guidance for a conditioned decoder: contrastive, classifier-free style.

At each decoding step the decoder's next-token log-probabilities under the asked label y are pushed
away from those under the other labels:

    score = log p(w | z, y) + γ · (log p(w | z, y) − log p̄(w | z, ¬y)),   p̄ = the mean over the other labels

γ = 0 is plain decoding. The contrast is the same decoder with the same z and another label, so it
needs no extra training (unlike classifier-free guidance with label dropout, which contrasts with an
unconditioned pass). It amplifies exactly what the label changes in the decoder's predictions: with
a z that carries a sentiment of its own, the label's effect on the words can be weaker than z's, and
guidance restores it. The price is one more decoder pass per step for each other label (batched
together, with its own KV cache) and, at large γ, fluency.

Used through ``logits_processor`` of HF's ``generate``; it runs before temperature and top-p.
"""

from __future__ import annotations

import math

import torch
from transformers import LogitsProcessor

from ..tensors import pad_sequences


class LabelGuidance(LogitsProcessor):
    """``model``: a label-conditioned textae model (``forward(input_ids, attention_mask, latent=,
    class_label=, cache=, use_cache=)``); ``latent`` [B, d] the rows' z; ``class_label`` [B] the asked
    label ids; ``num_labels`` K ≥ 2; ``weight`` γ ≥ 0."""

    def __init__(self, model, latent: torch.Tensor, class_label: torch.Tensor, num_labels: int, weight: float):
        if weight < 0 or not math.isfinite(weight):
            raise ValueError(f"label guidance weight must be a finite number ≥ 0, got {weight}")
        if num_labels < 2:
            raise ValueError(f"label guidance needs at least 2 labels to contrast, got {num_labels}")
        self.model, self.weight, self.others = model, float(weight), num_labels - 1
        asked = class_label.tolist()
        # row r of block k holds the k-th label other than row r's: [(K-1) * B] ids, block by block
        contrast = [[k for k in range(num_labels) if k != y] for y in asked]
        self.contrast_labels = torch.tensor([row[k] for k in range(self.others) for row in contrast], dtype=torch.long, device=latent.device)
        self.latent = latent.repeat(self.others, 1)
        self.cache = None
        self.seen = 0  # tokens of each row the contrast pass has read

    @torch.no_grad()
    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        """input_ids [B, t] (everything so far), scores [B, V] (the asked label's next-token logits)."""
        if self.weight == 0:
            return scores
        new = input_ids[:, self.seen :].repeat(self.others, 1)
        mask = torch.ones(new.shape[0], input_ids.shape[1], dtype=torch.long, device=input_ids.device)
        out = self.model(input_ids=new, attention_mask=mask, latent=self.latent, class_label=self.contrast_labels, cache=self.cache, use_cache=True)
        self.cache, self.seen = out.cache, input_ids.shape[1]
        other = out.logits[:, -1].float().log_softmax(-1).view(self.others, *scores.shape)
        other = torch.logsumexp(other, dim=0) - math.log(self.others)  # log of the other labels' mean probability
        return guided(scores.float().log_softmax(-1), other, self.weight).to(scores.dtype)


def guided(asked: torch.Tensor, other: torch.Tensor, weight: float) -> torch.Tensor:
    """The guided score from the asked label's and the contrast's log-probabilities [.., V]."""
    return asked + weight * (asked - other)


def word_start_tokens(tokenizer, vocab_size: int, letters_only: bool = False) -> torch.Tensor:
    """[V] bool: the tokens that begin a word (WordPiece's without "##", byte-level BPE's "Ġ…",
    SentencePiece's "▁…") and every token without a letter or digit (punctuation is never part of the
    word before it, even where the tokenizer writes it without a space); a word start is found by
    joining the token after "a" and looking for the space. With ``letters_only``, only the starts that
    hold a letter (words, not punctuation or numbers)."""
    starts = torch.zeros(vocab_size, dtype=torch.bool)
    for token, i in tokenizer.get_vocab().items():
        if i < vocab_size:
            joined = tokenizer.convert_tokens_to_string(["a", token])
            alone = joined[1:]
            spaced = len(joined) > 1 and joined[1].isspace()
            starts[i] = any(ch.isalpha() for ch in alone) and spaced if letters_only else spaced or not any(ch.isalnum() for ch in alone)
    starts[tokenizer.all_special_ids] = False
    return starts


@torch.no_grad()
def marker_edit(
    model,
    token_ids: list[list[int]],
    latent: torch.Tensor,
    source: torch.Tensor,
    target: torch.Tensor,
    word_starts: torch.Tensor,
    threshold: float,
    weight: float,
    words: torch.Tensor | None = None,
    lookahead: int = 0,
    candidates: int = 8,
    max_share: float = 1.0,
) -> list[list[int]]:
    """Label transfer by minimal edits. First the markers are found: a word is a marker when its first
    token is likelier under the source label than under the target one, read on the source sentence
    itself (salience log p(t | x_<i, z, y_src) − log p(t | x_<i, z, y_tgt) > ``threshold`` nats), and
    only the ``max_share`` most salient words of a sentence may be (at least one, when any clears
    ``threshold``). Then the sentence is rewritten left to right, teacher-forced on what has been
    written so far: each marker is replaced, all its pieces, by the best word-initial token under the
    target label with label guidance ``weight`` (:class:`LabelGuidance`'s score); when that best token
    is the source's own, the word stays. Every other token is copied, so the content stays.

    ``token_ids``: each sentence in the decoder's tokens (no specials); ``latent`` [B, d] the rows' z;
    ``source`` / ``target`` [B] label ids; ``word_starts`` [V] bool (:func:`word_start_tokens`);
    ``words`` [V] bool, the tokens that may be swapped out and in (default ``word_starts``; with
    ``letters_only`` punctuation is never touched, so a swap cannot eat a full stop).

    With ``lookahead`` = m > 0 the swap must also fit what follows: the ``candidates`` best guided
    tokens (the source's own left out) are each scored by their guided score plus the log-probability,
    under the target label, of the next m source tokens (the end of the sentence counted as one)
    written after them, and the best total wins. Without it the best next token often breaks the
    sentence ("one long string of cliches ." → "one of the of the"): it is the best continuation of
    the prefix, not the best word for that slot.

    Costs: one uncached pass over 2B rows for the salience, one cached pass per token over 2B rows
    for the rewrite, and with the lookahead one uncached pass over ``candidates`` rows per marker.
    Returns the edited token ids of each sentence."""
    if weight < 0 or not math.isfinite(weight) or not math.isfinite(threshold):
        raise ValueError(f"marker_edit needs finite numbers, a weight ≥ 0; got threshold {threshold}, weight {weight}")
    if lookahead < 0 or candidates < 1 or not 0 < max_share <= 1:
        raise ValueError(f"marker_edit needs lookahead ≥ 0, candidates ≥ 1 and 0 < max_share ≤ 1; got {lookahead}, {candidates}, {max_share}")
    c, device, rows = model.config, latent.device, len(token_ids)
    starts = word_starts.to(device)
    swappable = starts if words is None else words.to(device)
    markers = _markers(model, token_ids, latent, source, target, starts, swappable, threshold, max_share)
    is_start = [[bool(starts[t]) for t in ids] for ids in token_ids]
    at = [0] * rows  # each row's position in its source
    out: list[list[int]] = [[] for _ in range(rows)]
    labels, latents = torch.cat([target, source]), latent.repeat(2, 1)
    new = torch.full((2 * rows, 1), c.bos_token_id, dtype=torch.long, device=device)
    cache, seen = None, 0
    while any(at[r] < len(token_ids[r]) for r in range(rows)):
        seen += 1
        mask = torch.ones(2 * rows, seen, dtype=torch.long, device=device)
        result = model(input_ids=new, attention_mask=mask, latent=latents, class_label=labels, cache=cache, use_cache=True)
        cache = result.cache
        scores = result.logits[:, -1].float().log_softmax(-1)
        score = guided(scores[:rows], scores[rows:], weight).masked_fill(~swappable, float("-inf"))
        best = score.argmax(-1).tolist()
        written, swaps = [], {}
        for r, ids in enumerate(token_ids):
            if at[r] >= len(ids):  # done: its later tokens are never read
                written.append(c.pad_token_id)
                continue
            token = ids[at[r]]
            at[r] += 1
            if at[r] - 1 in markers[r] and best[r] != token:
                while at[r] < len(ids) and not is_start[r][at[r]]:  # the replaced word's other pieces go with it
                    at[r] += 1
                swaps[r] = token
                token = best[r]
            out[r].append(token)
            written.append(token)
        if lookahead and swaps:
            for r, token in _fitting_words(model, out, token_ids, at, swaps, score, latent, target, lookahead, candidates).items():
                out[r][-1] = written[r] = token
        new = torch.tensor(written, dtype=torch.long, device=device).repeat(2)[:, None]
    return out


def _markers(model, token_ids, latent, source, target, starts, swappable, threshold: float, max_share: float) -> list[set[int]]:
    """Per sentence, the positions of the words to replace: swappable word starts whose salience on the
    source sentence exceeds ``threshold``; at most ``max_share`` of its word starts (punctuation marks
    count among them, :func:`word_start_tokens`), the most salient first."""
    c, device, rows = model.config, latent.device, len(token_ids)
    ids, mask = (t.to(device) for t in pad_sequences([[c.bos_token_id, *row] for row in token_ids], c.pad_token_id))
    logits = model(input_ids=ids.repeat(2, 1), attention_mask=mask.repeat(2, 1), latent=latent.repeat(2, 1), class_label=torch.cat([source, target]), use_cache=False).logits
    logp = logits[:, :-1].float().log_softmax(-1).gather(-1, ids[:, 1:].repeat(2, 1)[..., None])[..., 0]  # [2B, T-1]: each source token's
    salience = (logp[:rows] - logp[rows:]).tolist()
    markers = []
    for r, row in enumerate(token_ids):
        n_words = sum(bool(starts[t]) for t in row)
        ranked = sorted((-salience[r][i], i) for i, t in enumerate(row) if swappable[t] and salience[r][i] > threshold)
        markers.append({i for _, i in ranked[: max(1, math.floor(max_share * n_words))]})
    return markers


def _fitting_words(model, out, token_ids, at, swaps, score, latent, target, lookahead: int, candidates: int) -> dict[int, int]:
    """For each swapped row r (``swaps``: row → the source token it drops): among the ``candidates``
    best tokens of ``score[r]`` other than that one, the one whose guided score plus log p(next
    ``lookahead`` source tokens | prefix, it; target label) is highest. One uncached batched pass."""
    c, device = model.config, latent.device
    seqs, owners, picks, spans = [], [], [], []
    for r, dropped in swaps.items():
        row = score[r].clone()
        row[dropped] = float("-inf")
        top = row.topk(min(candidates, int(torch.isfinite(row).sum()))).indices.tolist()
        follow = (token_ids[r][at[r] :] + [c.eos_token_id])[:lookahead]
        for token in top:
            seqs.append([c.bos_token_id, *out[r][:-1], token, *follow])
            owners.append(r)
            picks.append(token)
            spans.append(len(follow))
    ids, mask = (t.to(device) for t in pad_sequences(seqs, c.pad_token_id))
    rows = torch.tensor(owners, device=device)
    logp = model(input_ids=ids, attention_mask=mask, latent=latent[rows], class_label=target[rows], use_cache=False).logits.float().log_softmax(-1)
    totals: dict[int, tuple[float, int]] = {}
    for i, (s, r, token, n) in enumerate(zip(seqs, owners, picks, spans)):
        end = len(s)  # the follow tokens sit at end-n .. end-1, each predicted from the position before
        fit = sum(float(logp[i, p - 1, s[p]]) for p in range(end - n, end))
        total = float(score[r, token]) + fit
        if r not in totals or total > totals[r][0]:
            totals[r] = (total, token)
    return {r: token for r, (_, token) in totals.items()}

