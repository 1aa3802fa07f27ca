import pytest
import torch

from textae.noise import SpatialDropout, StandardDropout, embedding_white_noise


def _embeds(B=8, T=12, H=64):
    g = torch.Generator().manual_seed(0)
    # token norms spread over two orders of magnitude, so a relative scale is really tested
    return torch.randn(B, T, H, generator=g) * torch.logspace(-1, 1, T).view(1, T, 1)


def test_white_noise_scale_zero_is_identity():
    e = _embeds()
    assert torch.equal(embedding_white_noise(e, 0.0), e)
    with pytest.raises(ValueError, match="scale"):
        embedding_white_noise(e, -0.1)


def test_white_noise_std_is_relative_to_each_token_rms():
    e = _embeds(B=16, T=12, H=256)
    out = embedding_white_noise(e, 0.2, generator=torch.Generator().manual_seed(1))
    rms = e.pow(2).mean(-1, keepdim=True).sqrt()
    ratio = ((out - e) / rms).std(dim=(0, 2))  # one ratio per position, whose norms differ 100×
    assert torch.allclose(ratio, torch.full_like(ratio, 0.2), rtol=0.05)


def test_white_noise_respects_the_mask_seed_dtype_and_gradient():
    e = _embeds()
    mask = torch.ones(8, 12, dtype=torch.long)
    mask[:, 7:] = 0
    out = embedding_white_noise(e, 0.5, mask=mask, generator=torch.Generator().manual_seed(3))
    assert torch.equal(out[:, 7:], e[:, 7:])
    assert (out[:, :7] != e[:, :7]).all()
    again = embedding_white_noise(e, 0.5, mask=mask, generator=torch.Generator().manual_seed(3))
    assert torch.equal(out, again)
    assert embedding_white_noise(e.bfloat16(), 0.5).dtype == torch.bfloat16
    leaf = e.clone().requires_grad_()
    embedding_white_noise(leaf, 0.5).sum().backward()
    assert torch.equal(leaf.grad, torch.ones_like(e))  # the noise is additive, its size detached
    with pytest.raises(ValueError, match="mask shape"):
        embedding_white_noise(e, 0.5, mask=mask[:, :5])


def test_spatial_dropout_drops_whole_channels_per_sentence():
    p, B, T, D = 0.3, 64, 10, 32
    drop = SpatialDropout(p).train()
    x = torch.rand(B, T, D) + 0.5  # no zero, so any zero is a drop
    torch.manual_seed(0)
    ratio = drop(x) / x
    dropped = ratio[:, 0, :] == 0  # [B, D]
    expected = torch.where(dropped, 0.0, 1 / (1 - p)).unsqueeze(1).expand(B, T, D)
    assert torch.allclose(ratio, expected)  # each channel: 0 at all T positions or 1/(1-p) at all
    assert dropped.float().mean().item() == pytest.approx(p, abs=0.04)
    assert not (dropped == dropped[0]).all()  # each sentence draws its own channels
    drop.eval()
    assert torch.equal(drop(x), x)


def test_standard_dropout_drops_single_elements():
    p, B, T, D = 0.3, 16, 10, 32
    drop = StandardDropout(p).train()
    x = torch.rand(B, T, D) + 0.5
    torch.manual_seed(0)
    ratio = drop(x) / x
    dropped = ratio == 0
    assert torch.allclose(ratio[~dropped], torch.full_like(ratio[~dropped], 1 / (1 - p)))
    assert dropped.float().mean().item() == pytest.approx(p, abs=0.03)
    partial = dropped.any(dim=1) & ~dropped.all(dim=1)  # channels dropped at some positions only
    assert partial.float().mean() > 0.9
    drop.eval()
    assert torch.equal(drop(x), x)


@pytest.mark.parametrize("cls", [StandardDropout, SpatialDropout])
def test_dropout_edge_rates(cls):
    x = torch.rand(2, 3, 4) + 0.5
    assert torch.equal(cls(0.0).train()(x), x)
    assert torch.equal(cls(1.0).train()(x), torch.zeros_like(x))
    with pytest.raises(ValueError, match="p must be"):
        cls(1.5)
