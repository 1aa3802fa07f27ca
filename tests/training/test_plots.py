"""Run-folder plots: curves from the JSONL log, active units, the PCA projection of the latents."""

from __future__ import annotations

import json
import logging
import struct
import sys

import pytest
import torch

from tests.conftest import tiny_model
from textae.data import synthetic_dataset
from textae.training.plots import (
    VAE_CURVES,
    labelled_texts,
    pca_2d,
    plot_active_units,
    plot_curves,
    plot_latent_projection,
    read_log,
    write_run_plots,
)

pytest.importorskip("matplotlib")
from matplotlib.image import imread  # noqa: E402


def png_size(path) -> tuple[int, int]:
    """(width, height) from a PNG's header; fails unless the file is a decodable PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert imread(path).shape[:2] == (height, width)
    return width, height


def distinct_colours(path) -> int:
    pixels = (imread(path)[..., :3] * 255).round().reshape(-1, 3)
    return len(torch.unique(torch.from_numpy(pixels), dim=0))


def write_log(path, records):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def vae_log(steps=range(10, 110, 10)):
    return [{"step": s, "train/kl_per_sentence": s / 10, "train/loss_kl": max(s / 10, 3.2), "train/weight_kl": min(1.0, s / 50), "train/loss_reconstruction": 100 - s / 2} for s in steps] + [
        {"step": 50, "eval/loss_reconstruction": 80.0},
        {"step": 100, "eval/loss_reconstruction": 60.0},
    ]


def test_read_log_keeps_one_value_per_step_and_lets_a_resumed_run_supersede(tmp_path):
    log = tmp_path / "metrics.jsonl"
    records = [{"step": 10, "train/loss": 5.0}, {"step": 20, "train/loss": 4.0, "note": "x"}, {"step": 30, "train/loss": 3.0}]
    records += [{"step": 20, "train/loss": 4.5}, {"step": 30, "train/loss": 3.5}, {"step": None, "train/loss": 0.0}]  # resumed from step 10
    write_log(log, records)
    series = read_log(log)
    assert series == {"train/loss": [(10, 5.0), (20, 4.5), (30, 3.5)]}


def test_curves_active_units_and_projection_are_valid_pngs(tmp_path):
    write_log(tmp_path / "log.jsonl", vae_log())
    series = read_log(tmp_path / "log.jsonl")
    curves = plot_curves(series, VAE_CURVES, tmp_path / "curves.png", title="TextVAE")
    width, height = png_size(curves)
    assert height > width  # three panels stacked
    au = plot_active_units([0.5, 0.02, 0.009, 0.0, 1e-5, 2.0], tmp_path / "au.png")
    png_size(au)
    latents = torch.randn(60, 8)
    labelled = plot_latent_projection(latents, tmp_path / "pca_labels.png", ["food", "travel", "tech"] * 20)
    plain = plot_latent_projection(latents, tmp_path / "pca_plain.png")
    png_size(labelled), png_size(plain)
    assert distinct_colours(labelled) > distinct_colours(plain)  # one colour per label
    with pytest.raises(ValueError, match="3 labels for 60 latents"):
        plot_latent_projection(latents, tmp_path / "bad.png", ["a", "b", "c"])


def test_curves_of_keys_a_run_never_logged_are_not_drawn(tmp_path):
    assert plot_curves({"train/loss": [(1, 1.0)]}, VAE_CURVES, tmp_path / "c.png") is None
    assert not (tmp_path / "c.png").exists()
    only_lm = plot_curves({"train/loss": [(1, 2.0), (2, 1.0)]}, [("loss", [("train/loss", "train")]), *VAE_CURVES], tmp_path / "lm.png")
    png_size(only_lm)  # another family reuses the curve plot with its own panels


def test_pca_2d_finds_the_axes_of_largest_variance():
    torch.manual_seed(0)
    base = torch.randn(500, 3) * torch.tensor([5.0, 2.0, 0.1])
    rotation, _ = torch.linalg.qr(torch.randn(3, 3))
    scores, share = pca_2d(base @ rotation.T + 7.0)
    assert scores.shape == (500, 2)
    # the projection recovers the two large directions up to sign
    for j in range(2):
        corr = torch.corrcoef(torch.stack([scores[:, j], base[:, j].double()]))[0, 1]
        assert abs(corr) > 0.999
    assert share[0] > share[1] > 0 and share.sum() > 0.99
    one_dim, share1 = pca_2d(torch.randn(10, 1))
    assert torch.equal(one_dim[:, 1], torch.zeros(10)) and share1[1] == 0


def test_labelled_texts_reads_class_label_names_and_skips_empty_texts():
    ds = synthetic_dataset(20, seed=0, split="validation")
    texts, labels = labelled_texts(ds, "text", "topic", limit=5)
    assert texts == ds["text"][:5]
    assert labels == [ds.features["topic"].names[i] for i in ds["topic"][:5]]
    import datasets

    raw = datasets.Dataset.from_dict({"text": ["a b", "  ", "c"], "y": [1, 2, 3]})
    assert labelled_texts(raw, "text", "y") == (["a b", "c"], ["1", "3"])
    assert labelled_texts(raw, "text") == (["a b", "c"], None)


@pytest.mark.parametrize("label_column", ["topic", None])
def test_write_run_plots_writes_the_three_figures_with_or_without_labels(tmp_path, tokenizer, label_column):
    model = tiny_model("vae", tokenizer).eval()
    write_log(tmp_path / "logs" / "metrics.jsonl", vae_log())
    metrics = {"vae": {"active_unit_variances": torch.rand(16).tolist()}}
    ds = synthetic_dataset(40, seed=0, split="validation")
    written = write_run_plots(tmp_path, model, metrics, ds, "text", label_column)
    assert set(written) == {"curves", "active_units", "latent_pca"}
    for path in written.values():
        assert path.parent == tmp_path / "plots"
        png_size(path)


def test_without_a_log_or_a_vae_report_only_the_projection_is_drawn(tmp_path, tokenizer):
    model = tiny_model("ae", tokenizer).eval()
    written = write_run_plots(tmp_path, model, {}, synthetic_dataset(10, seed=0), "text", None)
    assert set(written) == {"latent_pca"}


def test_without_matplotlib_plots_are_skipped_with_a_warning(tmp_path, tokenizer, monkeypatch, caplog):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib → ImportError
    write_log(tmp_path / "logs" / "metrics.jsonl", vae_log())
    with caplog.at_level(logging.WARNING, logger="textae.training.plots"):
        written = write_run_plots(tmp_path, tiny_model("vae", tokenizer), {"vae": {"active_unit_variances": [1.0]}}, synthetic_dataset(5, seed=0))
        assert plot_active_units([1.0], tmp_path / "au.png") is None
    assert written == {} and not (tmp_path / "plots").exists() and not (tmp_path / "au.png").exists()
    assert "matplotlib is not installed: plots skipped" in caplog.text


def test_a_vae_training_run_ends_with_its_plots_in_the_run_folder(tmp_path):
    from tests.training.test_loop import tiny_recipe
    from textae.training import train

    recipe = tiny_recipe(
        tmp_path, "train.max_steps=4", "train.save_every=0", "train.eval_every=2", "train.iw_samples=2", "train.show_reconstructions=0",
        "data.label_column=topic", "train.loss_weights={kl: {kind: linear, warmup_steps: 4}}", family="vae",
    )
    result = train(recipe)
    plots = tmp_path / "plots"
    assert sorted(p.name for p in plots.iterdir()) == ["active_units.png", "curves.png", "latent_pca.png"]
    for path in plots.iterdir():
        png_size(path)
    assert len(result.metrics["vae"]["active_unit_variances"]) == 16
