"""Vector quantization and the VQ-VAE bottleneck: sentences as short sequences of discrete codes.

Neural Discrete Representation Learning, van den Oord et al. 2017, https://arxiv.org/abs/1711.00937.
Each latent vector z_e is replaced by its nearest codebook vector e (K × c per codebook); the
gradient passes straight through (z_e + sg[e − z_e]); the loss terms are

* ``codebook``   ‖sg[z_e] − e‖²  (absent with EMA updates: the codebook then learns without gradient),
* ``commitment`` ‖z_e − sg[e]‖²  (the family weighs it by β = 0.25, see ``loss_weights``),

each a mean over elements, summed over residual levels. Options, each off unless asked for:

* ``heads``: a vector is cut into ``heads`` parts, each quantized by its own codebook (product
  quantization; a position then carries heads · log2 K bits);
* ``levels``: residual quantization (Zeghidour et al. 2021, SoundStream): level l quantizes what the
  levels before it left over; the code vector is the sum over levels;
* ``ema``: codebook = EMA of the vectors assigned to each code (decay, Laplace-smoothed cluster
  sizes), as in the VQ-VAE paper's appendix and Razavi et al. 2019;
* ``kmeans_init``: the first training forward sets each codebook to k-means centroids of its batch;
* ``dead_code_steps`` N: a code unused for N training forwards is reset to a vector of the current
  batch (a recent encoder output); 0 turns restarts off (codes are still counted as dead);
* ``cosine``: nearest by cosine similarity, inputs and codes ℓ2-normalised (Yu et al. 2022, ViT-VQGAN);
* ``codebook_dim``: a low-dimensional codebook; each head's vector is projected down to it before
  the lookup and back up after (Yu et al. 2022).

Under DDP every statistic that changes the codebook (EMA counts and sums, k-means sums, usage
counts that decide restarts) is all-reduced, and the random picks (k-means seeds, restart vectors)
are made on rank 0 and broadcast, so every process holds the same codebook. Restarts and k-means
run at the start of a training forward (before the codebook is used), EMA updates at its end; the
module holds all the state it needs in buffers, so no hook in the training loop is required.

Code ids: a position has G = heads · levels codes, ordered level-major (level 0's heads first);
the flat id of code k of group g is g · K + k, so any code sequence is a plain token sequence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from .bottleneck import Bottleneck, BottleneckOutput, register_bottleneck
from .encoder import EncoderStates


# ---- distributed helpers ------------------------------------------------------------------------
def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def all_reduce_sum_(*tensors: torch.Tensor) -> None:
    """Sums each tensor over the processes in place (nothing when not distributed)."""
    if _distributed():
        for t in tensors:
            dist.all_reduce(t)


def broadcast_(tensor: torch.Tensor, src: int = 0) -> None:
    """Gives every process rank ``src``'s tensor in place (nothing when not distributed)."""
    if _distributed():
        dist.broadcast(tensor, src=src)


# ---- the quantizer ------------------------------------------------------------------------------
@dataclass
class QuantizerOutput:
    """quantized: [N, dim] (straight-through while training); indices: [N, G] (per group, 0..K−1);
    losses: named scalars; counts: [G, K] uses of each code in this batch (over all processes while
    training)."""

    quantized: torch.Tensor
    indices: torch.Tensor
    losses: dict[str, torch.Tensor] = field(default_factory=dict)
    counts: torch.Tensor | None = None


class VectorQuantizer(nn.Module):
    """Quantizes vectors [N, dim] to codebook vectors, per head and residual level (see the module doc).

    Args:
        dim: size of the input vectors (a multiple of ``heads``).
        codebook_size: K, codes per codebook.
        heads: codebooks side by side, each on dim / heads of the vector.
        levels: residual levels.
        codebook_dim: size c of the code vectors (None: dim / heads, no projection).
        cosine: cosine-similarity lookup (not with ``levels`` > 1).
        ema, decay, eps: EMA codebook updates with this decay and Laplace smoothing.
        kmeans_init, kmeans_iters: k-means initialisation at the first training forward.
        dead_code_steps: training forwards without use after which a code is dead (and, with
            ``restart_dead_codes``, reset to a vector of the current batch); 0: never dead.
        restart_dead_codes: reset dead codes.

    >>> vq = VectorQuantizer(dim=8, codebook_size=16, heads=2).eval()
    >>> out = vq(torch.randn(5, 8))
    >>> out.indices.shape, out.quantized.shape
    (torch.Size([5, 2]), torch.Size([5, 8]))
    >>> bool(torch.equal(vq.indices_to_vectors(out.indices), out.quantized))
    True
    """

    def __init__(
        self,
        dim: int,
        codebook_size: int = 512,
        heads: int = 1,
        levels: int = 1,
        codebook_dim: int | None = None,
        cosine: bool = False,
        ema: bool = True,
        decay: float = 0.99,
        eps: float = 1e-5,
        kmeans_init: bool = True,
        kmeans_iters: int = 10,
        dead_code_steps: int = 100,
        restart_dead_codes: bool = True,
    ):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not a multiple of heads {heads}")
        if codebook_size < 2 or heads < 1 or levels < 1:
            raise ValueError(f"need codebook_size ≥ 2, heads ≥ 1, levels ≥ 1; got {codebook_size}, {heads}, {levels}")
        if cosine and levels > 1:
            raise ValueError("cosine lookup normalises each level's input, which residual levels cannot undo; use levels=1")
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay must be in [0, 1), got {decay}")
        self.dim, self.codebook_size, self.heads, self.levels = dim, codebook_size, heads, levels
        self.head_dim = dim // heads
        self.codebook_dim = codebook_dim or self.head_dim
        self.cosine, self.ema, self.decay, self.eps = cosine, ema, decay, eps
        self.kmeans_init, self.kmeans_iters = kmeans_init, kmeans_iters
        self.dead_code_steps, self.restart_dead_codes = dead_code_steps, restart_dead_codes
        groups = heads * levels
        project = self.codebook_dim != self.head_dim
        self.project_in = nn.Linear(self.head_dim, self.codebook_dim) if project else nn.Identity()
        self.project_out = nn.Linear(self.codebook_dim, self.head_dim) if project else nn.Identity()
        embed = torch.randn(groups, codebook_size, self.codebook_dim) / math.sqrt(self.codebook_dim)
        if cosine:
            embed = F.normalize(embed, dim=-1)
        if ema:
            self.register_buffer("embed", embed)
            self.register_buffer("cluster_size", torch.ones(groups, codebook_size))
            self.register_buffer("embed_sum", embed.clone())
        else:
            self.embed = nn.Parameter(embed)
        self.register_buffer("unused_steps", torch.zeros(groups, codebook_size, dtype=torch.long))
        # 1 once a level's codebook holds its k-means centroids (or needs none)
        self.register_buffer("initialized", torch.full((levels,), 0.0 if kmeans_init else 1.0))

    @property
    def groups(self) -> int:
        return self.heads * self.levels

    @property
    def bits_per_vector(self) -> float:
        return self.groups * math.log2(self.codebook_size)

    # ---- lookups --------------------------------------------------------------------------------
    def _codes(self, level: int) -> torch.Tensor:
        """The code vectors of one level, [heads, K, c] (unit length with cosine lookup)."""
        codes = self.embed[level * self.heads : (level + 1) * self.heads]
        return F.normalize(codes, dim=-1) if self.cosine else codes

    def _nearest(self, x: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """x [N, heads, c], codes [heads, K, c] → index of the nearest code [N, heads]."""
        with torch.no_grad():
            dots = torch.einsum("nhc,hkc->nhk", x, codes)
            if self.cosine:
                return dots.argmax(-1)
            return (codes.pow(2).sum(-1)[None] - 2 * dots).argmin(-1)

    @staticmethod
    def _gather(codes: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """codes [heads, K, c], idx [N, heads] → [N, heads, c]."""
        heads = torch.arange(codes.shape[0], device=idx.device)[None, :]
        return codes[heads, idx]

    def _to_codebook_space(self, x: torch.Tensor) -> torch.Tensor:
        h = self.project_in(x.float().view(x.shape[0], self.heads, self.head_dim))
        return F.normalize(h, dim=-1) if self.cosine else h

    def _from_codebook_space(self, h: torch.Tensor) -> torch.Tensor:
        return self.project_out(h).reshape(h.shape[0], self.dim)

    def lookup(self, x: torch.Tensor) -> torch.Tensor:
        """Code-space vectors [N, heads, c] (summed over levels) → their indices [N, G], as the
        forward assigns them (no state changes)."""
        residual, found = x, []
        for level in range(self.levels):
            codes = self._codes(level)
            idx = self._nearest(residual, codes)
            found.append(idx)
            residual = residual - self._gather(codes, idx)
        return torch.cat(found, dim=1)

    def indices_to_codes(self, indices: torch.Tensor) -> torch.Tensor:
        """Indices [N, G] → code-space vectors [N, heads, c], summed over levels."""
        quantized = torch.zeros(indices.shape[0], self.heads, self.codebook_dim, device=indices.device)
        for level in range(self.levels):
            quantized = quantized + self._gather(self._codes(level), indices[:, level * self.heads : (level + 1) * self.heads])
        return quantized

    def indices_to_vectors(self, indices: torch.Tensor) -> torch.Tensor:
        """Indices [N, G] → the quantized vectors [N, dim] the forward returns in eval mode."""
        return self._from_codebook_space(self.indices_to_codes(indices))

    # ---- state changes while training ------------------------------------------------------------
    @torch.no_grad()
    def _set_codes(self, level: int, codes: torch.Tensor, mask: torch.Tensor | None = None, weight: torch.Tensor | float = 1.0) -> None:
        """Writes code vectors [heads, K, c] of one level (only where ``mask`` [heads, K]), and with EMA
        restarts their statistics with cluster size ``weight``."""
        sl = slice(level * self.heads, (level + 1) * self.heads)
        keep = torch.ones_like(self.unused_steps[sl], dtype=torch.bool) if mask is None else mask
        self.embed.data[sl] = torch.where(keep[..., None], codes, self.embed.data[sl])
        if self.ema:
            size = torch.as_tensor(weight, dtype=codes.dtype, device=codes.device).expand_as(self.cluster_size[sl])
            self.cluster_size[sl] = torch.where(keep, size, self.cluster_size[sl])
            self.embed_sum[sl] = torch.where(keep[..., None], codes * size[..., None], self.embed_sum[sl])
        self.unused_steps[sl] = torch.where(keep, torch.zeros_like(self.unused_steps[sl]), self.unused_steps[sl])

    def _assignment_stats(self, x: torch.Tensor, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Counts [heads, K] and sums [heads, K, c] of the vectors x [N, heads, c] assigned by idx,
        summed over the processes."""
        onehot = F.one_hot(idx, self.codebook_size).to(x.dtype)  # [N, heads, K]
        counts = onehot.sum(0).contiguous()
        sums = torch.einsum("nhk,nhc->hkc", onehot, x).contiguous()
        all_reduce_sum_(counts, sums)
        return counts, sums

    @torch.no_grad()
    def _kmeans(self, level: int, x: torch.Tensor) -> None:
        """Lloyd's k-means on x [N, heads, c] (the batches of all processes): seeds drawn on rank 0,
        sums and counts all-reduced at each iteration; an empty cluster keeps its centroid."""
        n, k = x.shape[0], self.codebook_size
        pick = torch.randperm(n, device=x.device)[:k] if n >= k else torch.randint(n, (k,), device=x.device)
        centroids = x[pick].transpose(0, 1).contiguous()  # [heads, K, c]
        broadcast_(centroids)
        counts = torch.zeros(self.heads, k, dtype=x.dtype, device=x.device)
        for _ in range(self.kmeans_iters):
            counts, sums = self._assignment_stats(x, self._nearest(x, centroids))
            means = sums / counts.clamp(min=1)[..., None]
            if self.cosine:
                means = F.normalize(means, dim=-1)
            centroids = torch.where(counts[..., None] > 0, means, centroids)
        self._set_codes(level, centroids, weight=counts.clamp(min=1))
        self.initialized[level] = 1.0

    @torch.no_grad()
    def _restart(self, level: int, x: torch.Tensor) -> None:
        """Codes unused for ``dead_code_steps`` training forwards take vectors of this batch, drawn on rank 0."""
        sl = slice(level * self.heads, (level + 1) * self.heads)
        dead = self.unused_steps[sl] >= self.dead_code_steps
        if not bool(dead.any()):
            return
        pick = torch.randint(x.shape[0], (self.heads, self.codebook_size), device=x.device)
        fresh = x[pick, torch.arange(self.heads, device=x.device)[:, None]].contiguous()  # [heads, K, c]
        broadcast_(fresh)
        self._set_codes(level, fresh, mask=dead)

    @torch.no_grad()
    def _update(self, level: int, x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """Usage counters and (with EMA) the codebook, from this batch's assignments; returns the counts."""
        sl = slice(level * self.heads, (level + 1) * self.heads)
        counts, sums = self._assignment_stats(x, idx)
        self.unused_steps[sl] = torch.where(counts > 0, torch.zeros_like(self.unused_steps[sl]), self.unused_steps[sl] + 1)
        if self.ema:
            self.cluster_size[sl] = self.cluster_size[sl] * self.decay + counts * (1 - self.decay)
            self.embed_sum[sl] = self.embed_sum[sl] * self.decay + sums * (1 - self.decay)
            size = self.cluster_size[sl]
            total = size.sum(-1, keepdim=True)
            smoothed = (size + self.eps) / (total + self.codebook_size * self.eps) * total
            codes = self.embed_sum[sl] / smoothed[..., None]
            self.embed[sl] = F.normalize(codes, dim=-1) if self.cosine else codes
        return counts

    def dead_codes(self) -> int:
        """Codes unused for ``dead_code_steps`` training forwards (0 when that is 0)."""
        if self.dead_code_steps <= 0:
            return 0
        return int((self.unused_steps >= self.dead_code_steps).sum())

    # ---- forward --------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> QuantizerOutput:
        """x: [N, dim] → :class:`QuantizerOutput`. Computed in fp32 whatever the autocast."""
        with torch.autocast(device_type=x.device.type, enabled=False):
            return self._forward(x)

    def _forward(self, x: torch.Tensor) -> QuantizerOutput:
        h = self._to_codebook_space(x)
        residual = h
        quantized = torch.zeros_like(h)
        commitment = h.new_zeros(())
        codebook = h.new_zeros(())
        found, counts = [], []
        for level in range(self.levels):
            if self.training and h.shape[0] > 0:
                plain = residual.detach()
                if not self.initialized[level]:
                    self._kmeans(level, plain)
                elif self.restart_dead_codes and self.dead_code_steps > 0:
                    self._restart(level, plain)
            codes = self._codes(level)
            idx = self._nearest(residual, codes)
            e = self._gather(codes, idx)
            commitment = commitment + F.mse_loss(residual, e.detach())
            if not self.ema:
                codebook = codebook + F.mse_loss(residual.detach(), e)
            if self.training:
                counts.append(self._update(level, residual.detach(), idx))
            else:
                counts.append(F.one_hot(idx, self.codebook_size).sum(0).to(h.dtype))
            quantized = quantized + e.detach() if self.ema else quantized + e
            residual = residual - e.detach()
            found.append(idx)
        if self.training:  # straight-through: the decoder's gradient goes to the encoder
            out = h + (quantized - h).detach()
        else:
            out = quantized.detach() if self.ema else quantized
        losses = {"commitment": commitment}
        if not self.ema:
            losses["codebook"] = codebook
        return QuantizerOutput(
            quantized=self._from_codebook_space(out), indices=torch.cat(found, dim=1), losses=losses, counts=torch.cat(counts, dim=0)
        )


def codebook_perplexity(counts: torch.Tensor) -> torch.Tensor:
    """exp(entropy) of each codebook's usage, counts [G, K] → [G] (K when uniform, 1 when one code)."""
    p = counts.double() / counts.double().sum(-1, keepdim=True).clamp(min=1)
    return torch.exp(-(p * torch.log(p.clamp(min=1e-30))).sum(-1))


# ---- downsampling -------------------------------------------------------------------------------
def strided_mean(states: torch.Tensor, mask: torch.Tensor, stride: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean of the real tokens in each window [i·r, (i+1)·r): states [B, T, H], mask [B, T] →
    pooled [B, ceil(T/r), H] and its mask (1 where the window holds a real token).

    >>> pooled, m = strided_mean(torch.arange(6.).view(1, 3, 2), torch.tensor([[1, 1, 0]]), 2)
    >>> pooled.tolist(), m.tolist()
    ([[[1.0, 2.0], [0.0, 0.0]]], [[1, 0]])
    """
    b, t, h = states.shape
    length = -(-t // stride)
    pad = length * stride - t
    weights = mask.to(states.dtype)
    if pad:
        states = F.pad(states, (0, 0, 0, pad))
        weights = F.pad(weights, (0, pad))
    states = (states * weights[..., None]).view(b, length, stride, h).sum(2)
    counts = weights.view(b, length, stride).sum(2)
    return states / counts.clamp(min=1)[..., None], (counts > 0).long()


# ---- the bottleneck -----------------------------------------------------------------------------
@dataclass
class VQBottleneckOutput(BottleneckOutput):
    """Adds indices [B, L, G] (−1 at masked positions) and quantized [B, L, d], the code vectors
    before the position embeddings are added (latent = quantized + positions)."""

    indices: torch.Tensor | None = None
    quantized: torch.Tensor | None = None


class VQBottleneck(Bottleneck):
    """Encoder token states → ``downsample`` r (windows of r tokens, masked mean; ``pooling:
    queries`` lets each window's mean attend over all tokens) → a vector quantizer → latent [B, L, d]
    with L = ceil(T / r), plus a learned embedding of each latent position (the decoder cross-attends
    to the codes as a set, so their order must be written into them).

    Options: ``downsample``, ``pooling`` ("mean" / "queries"), ``max_positions`` (latent positions
    the position table holds) and every :class:`VectorQuantizer` option (``codebook_size``,
    ``heads``, ``levels``, ``codebook_dim``, ``cosine``, ``ema``, ``decay``, ``eps``,
    ``kmeans_init``, ``kmeans_iters``, ``dead_code_steps``, ``restart_dead_codes``).
    """

    loss_terms = ("codebook", "commitment")
    per_position = True

    def __init__(self, hidden_size: int, latent_dim: int, downsample: int = 1, pooling: str = "mean", max_positions: int = 256, **quantizer_options):
        super().__init__(hidden_size, latent_dim)
        if downsample < 1:
            raise ValueError(f"downsample must be ≥ 1, got {downsample}")
        if pooling not in ("mean", "queries"):
            raise ValueError(f"unknown VQ pooling {pooling!r}; choose 'mean' or 'queries'")
        self.downsample, self.pooling, self.max_positions = downsample, pooling, max_positions
        self.to_latent = nn.Linear(hidden_size, latent_dim)
        self.attend = nn.MultiheadAttention(latent_dim, num_heads=1, batch_first=True) if pooling == "queries" else None
        self.positions = nn.Embedding(max_positions, latent_dim)
        self.quantizer = self.build_quantizer(latent_dim, **quantizer_options)

    def build_quantizer(self, latent_dim: int, **options) -> nn.Module:
        """The quantizer; a subclass may put another one in its place (same interface as
        :class:`VectorQuantizer`: forward → QuantizerOutput, ``indices_to_vectors``, ``groups``,
        ``codebook_size``, ``dead_codes``)."""
        return VectorQuantizer(latent_dim, **options)

    @property
    def groups(self) -> int:
        return self.quantizer.groups

    @property
    def codebook_size(self) -> int:
        return self.quantizer.codebook_size

    def _with_positions(self, quantized: torch.Tensor) -> torch.Tensor:
        length = quantized.shape[1]
        if length > self.max_positions:
            raise ValueError(f"{length} latent positions exceed max_positions={self.max_positions}; raise it or the downsampling")
        return quantized + self.positions.weight[:length][None]

    def forward(self, encoded: EncoderStates, sample: bool | None = None) -> VQBottleneckOutput:
        states = encoded.states.float()
        with torch.autocast(device_type=states.device.type, enabled=False):
            tokens = self.to_latent(states)
            z, mask = strided_mean(tokens, encoded.mask, self.downsample)
            if self.attend is not None:
                z = z + self.attend(z, tokens, tokens, key_padding_mask=encoded.mask == 0, need_weights=False)[0]
            real = mask.bool()
            q = self.quantizer(z[real])
            quantized = z.new_zeros(z.shape).masked_scatter(real[..., None], q.quantized)
            indices = torch.full((*mask.shape, self.groups), -1, dtype=torch.long, device=z.device)
            indices[real] = q.indices
            latent = self._with_positions(quantized)
        return VQBottleneckOutput(latent=latent, latent_mask=mask, losses=q.losses, stats=self._stats(q), indices=indices, quantized=quantized)

    def _stats(self, q: QuantizerOutput) -> dict[str, torch.Tensor]:
        counts = q.counts.detach()
        return {
            "codebook_perplexity": codebook_perplexity(counts).mean().float(),
            "codes_used_in_batch": (counts > 0).float().mean(),
            "dead_codes": torch.tensor(float(self.quantizer.dead_codes())),
        }

    def latent_from_indices(self, indices: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Indices [B, L, G] and mask [B, L] → (latent [B, L, d], quantized [B, L, d]), equal to what
        the forward returns in eval mode for those indices."""
        real = mask.bool()
        vectors = self.quantizer.indices_to_vectors(indices[real])
        quantized = vectors.new_zeros((*mask.shape, self.latent_dim)).masked_scatter(real[..., None], vectors)
        return self._with_positions(quantized), quantized


register_bottleneck("vq", VQBottleneck)
