"""ELECTRA's corruption on padded id batches, and its insertion extension.

ELECTRA (Clark et al. 2020, https://arxiv.org/abs/2003.10555) masks 15% of the tokens, lets a small
masked LM (the generator) sample a token for each masked position, and trains a discriminator to
tell, for every token of the result, whether it is the original or a replacement. A sample that
happens to equal the original counts as original. The insertion extension then puts meaning-neutral
tokens (punctuation, emoji, spaces: :data:`textae.noise.INSERTABLE_CHARACTERS`) at random places,
and the discriminator labels each token original / replaced / inserted.

Unlike the per-sentence noises of :mod:`.tokens`, these act on padded tensors ``[B, T]`` inside a
model. Randomness comes from ``generator`` (a ``torch.Generator``) or, when it is None, from torch's
global RNG, which the training loop reseeds for every batch. Numbers are drawn only for the positions
that take part, in row-major order, so trailing padding never changes the result.

>>> ids = torch.tensor([[2, 10, 11, 12, 3, 0]])          # [BOS] a b c [EOS] [PAD]
>>> candidates = ids > 4                                   # the words, not the specials nor padding
>>> masked = torch.tensor([[False, True, True, False, False, False]])
>>> samples = torch.tensor([10, 13])                       # the generator's guesses for a and b
>>> corrupted, labels = replace_and_label(ids, candidates, masked, samples)
>>> corrupted.tolist(), labels.tolist()                    # a guessed right stays "original"
([[2, 10, 13, 12, 3, 0]], [[-100, 0, 1, 0, -100, -100]])
>>> g = torch.Generator().manual_seed(0)
>>> new_ids, new_mask, new_labels = insert_tokens(corrupted, ids != 0, labels, 1.0, [7], pad_id=0, generator=g)
>>> new_ids.tolist(), new_labels.tolist()                  # 7 inserted before every token but [BOS]
([[2, 7, 10, 7, 13, 7, 12, 7, 3]], [[-100, 2, 0, 2, 1, 2, 0, 2, -100]])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..tensors import IGNORE_INDEX

ORIGINAL, REPLACED, INSERTED = 0, 1, 2
RTD_CLASSES = ("original", "replaced", "inserted")
"""Class names of the discriminator's labels, by id (the first two without insertion)."""


def uniform_at(positions: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """U[0, 1) numbers at the True entries of ``positions`` [B, T] (drawn in row-major order), 2.0
    elsewhere, so ``uniform_at(p) < rate`` never selects a position outside ``p``."""
    out = torch.full(positions.shape, 2.0, device=positions.device)
    n = int(positions.sum())
    if n:
        out[positions] = torch.rand(n, generator=generator, device=positions.device)
    return out


def select_masked(candidates: torch.Tensor, rate: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Each candidate position [B, T] (bool) is masked independently with probability ``rate``."""
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"mask rate must be in [0, 1], got {rate}")
    return candidates & (uniform_at(candidates, generator) < rate)


@torch.no_grad()
def sample_tokens(
    logits: torch.Tensor,
    temperature: float = 1.0,
    banned_ids: Sequence[int] = (),
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """One token per row of ``logits`` [N, V], sampled from softmax(logits / temperature) with the
    ``banned_ids`` (padding, [MASK], ...) excluded. No gradient: the samples are discrete."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if logits.shape[0] == 0:
        return torch.empty(0, dtype=torch.long, device=logits.device)
    scores = logits.detach().float() / temperature
    if banned_ids:
        scores[:, list(banned_ids)] = float("-inf")
    return torch.multinomial(torch.softmax(scores, dim=-1), 1, generator=generator).squeeze(-1)


def uniform_tokens(
    n: int, vocab_size: int, banned_ids: Sequence[int] = (), generator: torch.Generator | None = None, device=None
) -> torch.Tensor:
    """``n`` token ids drawn uniformly from ``range(vocab_size)`` less the ``banned_ids``: replacements
    that need no generator (the control under which detection must be easy)."""
    allowed = torch.ones(vocab_size, dtype=torch.bool)
    allowed[[i for i in banned_ids if 0 <= i < vocab_size]] = False
    pool = allowed.nonzero().squeeze(-1).to(device)
    if len(pool) == 0:
        raise ValueError("uniform replacement needs at least one non-special token id")
    return pool[torch.randint(len(pool), (n,), generator=generator, device=device)]


def replace_and_label(
    input_ids: torch.Tensor, candidates: torch.Tensor, masked: torch.Tensor, samples: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Puts ``samples`` [N] at the ``masked`` positions of ``input_ids`` [B, T] (row-major order).

    Returns the corrupted ids and the labels [B, T]: REPLACED where the sample differs from the
    original, ORIGINAL at every other candidate (a correct sample included), IGNORE_INDEX elsewhere
    (padding and special tokens).
    """
    corrupted = input_ids.clone()
    corrupted[masked] = samples
    labels = torch.full_like(input_ids, IGNORE_INDEX)
    labels[candidates] = ORIGINAL
    labels[masked & (corrupted != input_ids)] = REPLACED
    return corrupted, labels


def bert_mask(
    input_ids: torch.Tensor,
    masked: torch.Tensor,
    mask_id: int,
    random_ids: torch.Tensor,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """BERT's masked-LM input (Devlin et al. 2019): of the ``masked`` positions, 80% become
    ``mask_id``, 10% a token drawn uniformly from ``random_ids`` [K] and 10% stay as they are."""
    u = uniform_at(masked, generator)
    out = input_ids.clone()
    out[u < 0.8] = mask_id
    swap = (u >= 0.8) & (u < 0.9)
    n = int(swap.sum())
    if n:
        out[swap] = random_ids[torch.randint(len(random_ids), (n,), generator=generator, device=input_ids.device)]
    return out


def insert_tokens(
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    labels: torch.Tensor,
    rate: float,
    insert_ids: Sequence[int],
    pad_id: int,
    max_length: int | None = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Inserts one token from ``insert_ids`` (uniformly) before each token but the first of every row,
    with probability ``rate``; the inserted tokens are labelled INSERTED.

    input_ids / attention_mask / labels: [B, T], right-padded. Returns the same three, [B, T'] with
    T' the longest new row. A row never grows past ``max_length`` (later insertions are dropped).
    """
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"insertion rate must be in [0, 1], got {rate}")
    if not insert_ids:
        raise ValueError("insertion needs at least one token id to insert")
    real = attention_mask.bool()
    slots = real.clone()
    slots[:, 0] = False  # nothing before the first token ([BOS] / [CLS])
    insert = slots & (uniform_at(slots, generator) < rate)
    lengths = real.sum(1)
    if max_length is not None:
        room = (max_length - lengths).clamp(min=0)
        insert &= insert.long().cumsum(1) <= room[:, None]
    shift = insert.long().cumsum(1)  # insertions at or before each position
    batch, width = input_ids.shape
    new_width = max(1, int((lengths + shift[:, -1]).max()))
    device = input_ids.device
    new_ids = torch.full((batch, new_width), pad_id, dtype=input_ids.dtype, device=device)
    new_labels = torch.full((batch, new_width), IGNORE_INDEX, dtype=labels.dtype, device=device)
    new_mask = torch.zeros((batch, new_width), dtype=attention_mask.dtype, device=device)
    rows = torch.arange(batch, device=device)[:, None].expand(batch, width)
    target = torch.arange(width, device=device)[None, :] + shift
    new_ids[rows[real], target[real]] = input_ids[real]
    new_labels[rows[real], target[real]] = labels[real]
    new_mask[rows[real], target[real]] = 1
    n = int(insert.sum())
    if n:
        table = torch.as_tensor(list(insert_ids), dtype=input_ids.dtype, device=device)
        choice = torch.randint(len(table), (n,), generator=generator, device=device)
        where = (rows[insert], target[insert] - 1)
        new_ids[where] = table[choice]
        new_labels[where] = INSERTED
        new_mask[where] = 1
    return new_ids, new_mask, new_labels
