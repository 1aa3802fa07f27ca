"""The vector quantizer and the VQ bottleneck: invariants and exact expectations on constructed cases."""

from __future__ import annotations

import pytest
import torch

from textae.modules import build_bottleneck
from textae.modules.encoder import EncoderStates
from textae.modules.vq import VectorQuantizer, codebook_perplexity, strided_mean

VARIANTS = {
    "plain": {},
    "heads": {"heads": 2},
    "cosine": {"cosine": True},
    "low_dim": {"codebook_dim": 3},
    "residual": {"levels": 2},
    "gradient_codebook": {"ema": False, "heads": 2},
}


def _quantizer(**options) -> VectorQuantizer:
    torch.manual_seed(0)
    return VectorQuantizer(dim=8, codebook_size=16, **{"kmeans_init": False, **options})


@pytest.mark.parametrize("name", VARIANTS)
def test_indices_to_vectors_to_indices_is_the_identity(name):
    vq = _quantizer(**VARIANTS[name]).eval()
    if vq.levels > 1:  # residual codebooks shrink level by level, as trained ones do
        vq.embed.data[vq.heads :] *= 0.01
    indices = torch.randint(0, 16, (50, vq.groups), generator=torch.Generator().manual_seed(1))
    assert torch.equal(vq.lookup(vq.indices_to_codes(indices)), indices)
    if vq.codebook_dim == vq.head_dim:  # no projection: the vectors themselves go back to their indices
        assert torch.equal(vq(vq.indices_to_vectors(indices)).indices, indices)


@pytest.mark.parametrize("name", VARIANTS)
def test_eval_output_equals_the_output_rebuilt_from_its_indices(name):
    vq = _quantizer(**VARIANTS[name])
    x = torch.randn(64, 8)
    vq.train()
    for _ in range(3):  # some training updates first (EMA, usage counters)
        vq(x)
    vq.eval()
    with torch.no_grad():
        out = vq(x)
    assert out.indices.shape == (64, vq.groups)
    assert torch.equal(vq.indices_to_vectors(out.indices), out.quantized)


@pytest.mark.parametrize("seed", range(4))
def test_kmeans_init_gives_the_cluster_means_of_the_first_batch(seed):
    vq = VectorQuantizer(dim=1, codebook_size=2, kmeans_init=True, kmeans_iters=10, eps=0.0, dead_code_steps=0).train()
    x = torch.tensor([[-1.25], [-0.75], [0.75], [1.25]])  # Lloyd reaches the two means from any two seeds
    torch.manual_seed(seed)
    out = vq(x)
    assert sorted(vq.embed.flatten().tolist()) == [-1.0, 1.0]
    assert vq.cluster_size.tolist() == [[2.0, 2.0]]
    assert out.indices[0] == out.indices[1] != out.indices[2] == out.indices[3]
    assert vq.initialized.tolist() == [1.0]
    before = vq.embed.clone()
    vq(torch.tensor([[5.0], [6.0]]))  # no second k-means: only the EMA moves the used code
    assert vq.embed.flatten().tolist().count(before.flatten()[0].item()) + vq.embed.flatten().tolist().count(before.flatten()[1].item()) == 1


def test_ema_update_follows_the_formula():
    vq = VectorQuantizer(dim=1, codebook_size=2, ema=True, decay=0.5, eps=0.0, kmeans_init=False, dead_code_steps=0).train()
    vq.embed.copy_(torch.tensor([[[0.0], [10.0]]]))
    vq.embed_sum.copy_(vq.embed)
    vq.cluster_size.fill_(1.0)
    out = vq(torch.tensor([[1.0], [1.0], [4.0]]))  # all three nearer code 0
    # counts [3, 0], sums [6, 0]: N = 0.5·[1, 1] + 0.5·[3, 0]; S = 0.5·[0, 10] + 0.5·[6, 0]; e = S / N
    assert vq.cluster_size.tolist() == [[2.0, 0.5]]
    assert vq.embed_sum.flatten().tolist() == [3.0, 5.0]
    assert vq.embed.flatten().tolist() == [1.5, 10.0]
    assert out.indices.flatten().tolist() == [0, 0, 0]
    assert out.quantized.flatten().tolist() == [0.0, 0.0, 0.0]  # quantized with the codebook before the update
    assert out.losses["commitment"].item() == pytest.approx((1 + 1 + 16) / 3)
    assert "codebook" not in out.losses  # EMA: the codebook learns without gradient


def test_dead_codes_restart_to_vectors_of_the_current_batch():
    vq = VectorQuantizer(dim=1, codebook_size=3, ema=False, kmeans_init=False, dead_code_steps=2).train()
    with torch.no_grad():
        vq.embed.copy_(torch.tensor([[[0.0], [5.0], [100.0]]]))
    for _ in range(2):
        vq(torch.tensor([[1.0], [1.0]]))  # code 0 only
    assert vq.unused_steps.tolist() == [[0, 2, 2]] and vq.dead_codes() == 2
    out = vq(torch.tensor([[7.0], [7.0]]))  # codes 1 and 2 are dead: both become 7 before the lookup
    assert vq.embed.flatten().tolist() == [0.0, 7.0, 7.0]
    assert out.indices.flatten().tolist() == [1, 1]  # the first of the equal nearest codes
    assert vq.unused_steps.tolist() == [[1, 0, 1]]
    assert set(out.losses) == {"commitment", "codebook"}


def test_a_restarted_ema_code_starts_with_cluster_size_one():
    vq = VectorQuantizer(dim=1, codebook_size=2, ema=True, decay=0.5, eps=0.0, kmeans_init=False, dead_code_steps=1).train()
    vq.embed.copy_(torch.tensor([[[0.0], [10.0]]]))
    vq.embed_sum.copy_(vq.embed)
    vq.cluster_size.fill_(1.0)
    vq(torch.tensor([[0.0]]))  # code 1 unused once: dead
    vq(torch.tensor([[3.0]]))  # restart code 1 to 3 (size 1), then code 1 takes the vector: N = 0.5 + 0.5, S = 1.5 + 1.5
    assert vq.embed.flatten().tolist()[1] == 3.0 and vq.cluster_size[0, 1].item() == 1.0


def test_cosine_codes_stay_unit_length_and_stats_count_usage():
    vq = _quantizer(cosine=True, kmeans_init=True).train()
    for _ in range(3):
        vq(torch.randn(40, 8))
    assert torch.allclose(vq.embed.norm(dim=-1), torch.ones(1, 16), atol=1e-5)
    counts = torch.tensor([[4, 4, 0, 0], [16, 0, 0, 0]])
    assert codebook_perplexity(counts).tolist() == pytest.approx([2.0, 1.0])


def test_options_are_checked():
    with pytest.raises(ValueError, match="not a multiple of heads"):
        VectorQuantizer(dim=7, heads=2)
    with pytest.raises(ValueError, match="cosine"):
        VectorQuantizer(dim=8, cosine=True, levels=2)
    with pytest.raises(TypeError, match="unexpected keyword"):
        build_bottleneck("vq", 8, 8, {"codebook_sise": 4})


def test_strided_mean_pools_only_real_tokens():
    states = torch.arange(10.0).view(1, 5, 2)
    pooled, mask = strided_mean(states, torch.tensor([[1, 1, 1, 0, 0]]), 2)
    assert pooled.tolist() == [[[1.0, 2.0], [4.0, 5.0], [0.0, 0.0]]] and mask.tolist() == [[1, 1, 0]]


@pytest.mark.parametrize("options", [{"downsample": 2, "heads": 2, "levels": 2, "codebook_dim": 4}, {"downsample": 3, "pooling": "queries", "cosine": True}])
def test_bottleneck_latent_is_rebuilt_from_indices_and_ignores_padding(options):
    torch.manual_seed(0)
    bottleneck = build_bottleneck("vq", 12, 8, {"codebook_size": 32, **options})
    states = torch.randn(3, 7, 12)
    mask = torch.tensor([[1] * 7, [1] * 4 + [0] * 3, [1] * 2 + [0] * 5])
    bottleneck.train()
    bottleneck(EncoderStates(states=states, mask=mask, pooled=states.mean(1)))  # k-means init
    bottleneck.eval()
    out = bottleneck(EncoderStates(states=states, mask=mask, pooled=states.mean(1)))
    r = options["downsample"]
    assert out.latent_mask.sum(1).tolist() == [-(-7 // r), -(-4 // r), -(-2 // r)]
    assert out.indices.shape == (3, -(-7 // r), bottleneck.groups) and (out.indices[out.latent_mask == 0] == -1).all()
    latent, quantized = bottleneck.latent_from_indices(out.indices, out.latent_mask)
    assert torch.equal(latent, out.latent) and torch.equal(quantized, out.quantized)
    # padding states change nothing at the real positions
    noisy = states.clone()
    noisy[mask == 0] = 99.0
    again = bottleneck(EncoderStates(states=noisy, mask=mask, pooled=states.mean(1)))
    real = out.latent_mask.bool()
    assert torch.equal(again.indices[real], out.indices[real])


def test_aligned_codes_reach_the_positions_of_their_window_and_agree_with_the_cache():
    from transformers.cache_utils import DynamicCache

    from textae.modules import LatentDecoder

    torch.manual_seed(0)
    spec = {"model_type": "gpt2", "n_embd": 16, "n_layer": 1, "n_head": 2, "n_positions": 16}
    dec = LatentDecoder(spec, vocab_size=20, latent_dim=4, memory_slots=0, per_position_latent=True)
    dec.align_latent(stride=2, latent_dim=4)
    dec.eval()
    ids, latent, mask = torch.randint(0, 20, (2, 6)), torch.randn(2, 3, 4), torch.tensor([[1, 1, 1], [1, 1, 0]])
    with torch.no_grad():
        full = dec(ids, latent=latent, latent_mask=mask).logits
        changed = latent.clone()
        changed[:, 1] += 1.0  # window 1 = input positions 2 and 3 (and, causally, what follows)
        moved = dec(ids, latent=changed, latent_mask=mask).logits
        assert torch.equal(full[:, :2], moved[:, :2]) and not torch.allclose(full[:, 2:4], moved[:, 2:4])
        masked = latent.clone()
        masked[1, 2] = 50.0  # a masked position is never read
        assert torch.equal(dec(ids, latent=masked, latent_mask=mask).logits[1], full[1])
        cache, steps = DynamicCache(), []
        for t in range(6):
            out = dec(ids[:, t : t + 1], latent=latent, latent_mask=mask, cache=cache, use_cache=True)
            cache = out.past_key_values if hasattr(out, "past_key_values") and out.past_key_values is not None else out.cache
            steps.append(out.logits)
    torch.testing.assert_close(torch.cat(steps, 1), full, rtol=1e-5, atol=1e-5)
