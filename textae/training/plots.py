"""Figures written to a run folder, as PNG files (matplotlib, optional: ``pip install "textae[plots]"``).

* :func:`plot_curves` — logged scalars over the steps, read from the run's ``logs/metrics.jsonl``,
  one panel per group of keys. Any family can pass its own panels; :data:`VAE_CURVES` draws the KL,
  β (the KL loss weight) and the reconstruction loss.
* :func:`plot_active_units` — Var_x E[z|x] per latent dimension, with the active-unit threshold.
* :func:`plot_latent_projection` — the posterior means (or codes) of the eval set projected on their
  first two principal components (:func:`pca_2d`, pure torch), coloured by label where there are labels.
* :func:`plot_codebook_usage` — a VQ model's code uses on the eval set, one panel per codebook.
* :func:`write_run_plots` — what the training loop calls at the end of a run of a model with a latent.

Without matplotlib nothing is drawn: a warning says the plots were skipped and the functions return
``None`` (training and evaluation are unaffected). Plots use matplotlib's object API (no pyplot), so
they never change the caller's backend or open a window.

Example::

    from textae.training.plots import plot_curves, read_log
    plot_curves(read_log("runs/lm_ptb/logs/metrics.jsonl"),
                [("loss", [("train/loss", "train"), ("eval/loss", "eval")])], "runs/lm_ptb/loss.png")
"""

from __future__ import annotations

import itertools
import json
import logging
from pathlib import Path

import torch

from ..data.loading import class_label_names
from ..models.protocol import ENCODE

logger = logging.getLogger(__name__)

LOG_FILE = Path("logs") / "metrics.jsonl"
AU_THRESHOLD = 0.01
MAX_PROJECTED = 2000  # sentences encoded for the latent projection

# (panel title, [(logged key, legend)]); keys a run did not log are left out, empty panels too
Panels = list[tuple[str, list[tuple[str, str]]]]
VAE_CURVES: Panels = [
    ("KL (nats per sentence)", [("train/kl_per_sentence", "KL(q(z|x) ‖ p(z))"), ("train/loss_kl", "KL term optimised (after free bits)")]),
    ("β (KL weight)", [("train/weight_kl", "β")]),
    ("reconstruction loss", [("train/loss_reconstruction", "train"), ("eval/loss_reconstruction", "eval")]),
]
VQ_CURVES: Panels = [
    ("codebook perplexity (batch)", [("train/codebook_perplexity", "train"), ("eval/codebook_perplexity", "eval")]),
    ("dead codes", [("train/dead_codes", "unused for dead_code_steps forwards")]),
    ("VQ losses", [("train/loss_commitment", "commitment"), ("train/loss_codebook", "codebook")]),
]


def _figure_class():
    """matplotlib's Figure, or None (with a warning) when matplotlib is not installed."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        logger.warning('matplotlib is not installed: plots skipped (pip install "textae[plots]")')
        return None
    return Figure


def read_log(path: str | Path) -> dict[str, list[tuple[int, float]]]:
    """A JSONL training log → {key: [(step, value), ...]} in step order.

    A step that goes back (a resumed run, or a new run in the same folder) supersedes that key's
    points at and after it, so each key keeps one value per step, the latest written.
    """
    series: dict[str, list[tuple[int, float]]] = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        step = record.get("step")
        if step is None:
            continue
        for key, value in record.items():
            if key == "step" or not isinstance(value, (int, float)) or isinstance(value, bool):
                continue
            points = series.setdefault(key, [])
            while points and points[-1][0] >= step:
                points.pop()
            points.append((int(step), float(value)))
    return series


def plot_curves(series: dict[str, list[tuple[int, float]]], panels: Panels, path: str | Path, title: str | None = None) -> Path | None:
    """One panel per group of logged keys, over the steps. Returns the file, or None when no key of
    ``panels`` is in ``series`` (or matplotlib is missing)."""
    drawn = [(name, [(k, label) for k, label in keys if series.get(k)]) for name, keys in panels]
    drawn = [(name, keys) for name, keys in drawn if keys]
    if not drawn:
        logger.info("no logged key of %s: curves not drawn", [k for _, keys in panels for k, _ in keys])
        return None
    Figure = _figure_class()
    if Figure is None:
        return None
    fig = Figure(figsize=(6.4, 2.4 * len(drawn)), layout="constrained")
    axes = fig.subplots(len(drawn), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (name, keys) in zip(axes, drawn):
        for key, label in keys:
            steps, values = zip(*series[key])
            ax.plot(steps, values, label=label, marker="." if len(steps) < 30 else None)
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        if len(keys) > 1:
            ax.legend(fontsize="small")
    axes[-1].set_xlabel("optimizer step")
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def plot_active_units(variances, path: str | Path, threshold: float = AU_THRESHOLD) -> Path | None:
    """Bar chart of Var_x E[z|x] per latent dimension (log scale) and the active-unit threshold."""
    Figure = _figure_class()
    if Figure is None:
        return None
    v = torch.as_tensor(variances, dtype=torch.float64).flatten()
    active = v > threshold
    floor = 1e-8  # zero variances still get a visible stub on the log axis
    fig = Figure(figsize=(max(6.4, 0.18 * len(v)), 3.2), layout="constrained")
    ax = fig.subplots()
    ax.bar(range(len(v)), v.clamp(min=floor).tolist(), color=["tab:blue" if a else "tab:gray" for a in active.tolist()])
    ax.axhline(threshold, color="tab:red", linestyle="--", label=f"threshold {threshold:g}")
    ax.set_yscale("log")
    ax.set_xlabel("latent dimension")
    ax.set_ylabel("Var_x E[z|x]")
    ax.set_title(f"active units: {int(active.sum())} / {len(v)}")
    ax.legend(fontsize="small")
    return _save(fig, path)


def plot_codebook_usage(counts, path: str | Path) -> Path | None:
    """Histogram of code uses [G, K]: one panel per codebook, codes ordered by index, with the share
    used and the codebook perplexity in each title."""
    Figure = _figure_class()
    if Figure is None:
        return None
    c = torch.as_tensor(counts, dtype=torch.float64)
    c = c[None] if c.dim() == 1 else c
    fig = Figure(figsize=(max(6.4, min(16.0, 0.012 * c.shape[1] + 4)), 2.2 * c.shape[0] + 0.4), layout="constrained")
    axes = fig.subplots(c.shape[0], 1, squeeze=False, sharex=True)[:, 0]
    for g, (ax, row) in enumerate(zip(axes, c)):
        p = row / row.sum().clamp(min=1)
        perplexity = float(torch.exp(-(p * p.clamp(min=1e-30).log()).sum()))
        used = row > 0
        ax.bar(range(len(row)), row.tolist(), width=1.0, color=["tab:blue" if u else "tab:red" for u in used.tolist()])
        ax.set_ylabel("uses")
        ax.set_title(f"codebook {g}: {int(used.sum())}/{len(row)} codes used ({float(used.double().mean()):.1%}), perplexity {perplexity:.1f}", fontsize="small")
    axes[-1].set_xlabel("code index")
    return _save(fig, path)


def pca_2d(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """[N, d] → (the first two principal-component scores [N, 2], their shares of the variance [2]).

    Fewer than two components (d = 1 or N < 3) are padded with zeros."""
    x = x.double().flatten(1)
    x = x - x.mean(0, keepdim=True)
    _, s, vh = torch.linalg.svd(x, full_matrices=False)
    k = min(2, vh.shape[0])
    scores = torch.zeros(x.shape[0], 2, dtype=torch.float64)
    scores[:, :k] = x @ vh[:k].T
    total = s.pow(2).sum()
    share = torch.zeros(2, dtype=torch.float64)
    if total > 0:
        share[:k] = s[:k].pow(2) / total
    return scores, share


def plot_latent_projection(latents: torch.Tensor, path: str | Path, labels: list | None = None, title: str = "posterior means, PCA") -> Path | None:
    """Scatter of ``latents`` [N, d] on their first two principal components; one colour per label
    when ``labels`` (N names) are given, a single colour otherwise."""
    Figure = _figure_class()
    if Figure is None:
        return None
    scores, share = pca_2d(latents)
    fig = Figure(figsize=(5.6, 5.0), layout="constrained")
    ax = fig.subplots()
    if labels is None:
        ax.scatter(scores[:, 0], scores[:, 1], s=6, alpha=0.5)
        ax.set_title(f"{title} (no labels)")
    else:
        if len(labels) != scores.shape[0]:
            raise ValueError(f"{len(labels)} labels for {scores.shape[0]} latents")
        names = sorted({str(label) for label in labels})
        colours = itertools.cycle([f"C{i}" for i in range(10)] if len(names) <= 10 else [_tab20(i) for i in range(20)])
        for name, colour in zip(names, colours):
            rows = torch.tensor([str(label) == name for label in labels])
            ax.scatter(scores[rows, 0], scores[rows, 1], s=6, alpha=0.6, color=colour, label=name)
        if len(names) <= 20:
            ax.legend(fontsize="small", markerscale=2)
        ax.set_title(title)
    ax.set_xlabel(f"PC1 ({share[0]:.0%} of variance)")
    ax.set_ylabel(f"PC2 ({share[1]:.0%} of variance)")
    return _save(fig, path)


def _tab20(i: int):
    from matplotlib import colormaps

    return colormaps["tab20"](i)


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


def labelled_texts(ds, text_column: str, label_column: str | None = None, limit: int = MAX_PROJECTED) -> tuple[list[str], list[str] | None]:
    """The first ``limit`` non-empty texts of a dataset and, with ``label_column``, their label names
    (a ClassLabel's names, or the values as strings)."""
    names = class_label_names(ds, label_column)
    texts, labels = [], []
    for row in ds:
        if len(texts) >= limit:
            break
        text = row.get(text_column)
        if not isinstance(text, str) or not text.strip():
            continue
        texts.append(text.strip())
        if label_column:
            value = row.get(label_column)
            labels.append(names[value] if names is not None and isinstance(value, int) else str(value))
    return texts, (labels if label_column else None)


def write_run_plots(run_dir: str | Path, model, metrics: dict, eval_raw=None, text_column: str = "text", label_column: str | None = None) -> dict[str, Path]:
    """The figures of a finished run of a model with a latent, written to ``RUN_DIR/plots/``:

    * ``curves.png`` — KL, β and reconstruction over the steps (from ``RUN_DIR/logs/metrics.jsonl``);
    * ``active_units.png`` — from ``metrics["vae"]["active_unit_variances"]`` (VAE-family models);
    * ``codebook_usage.png`` — from ``metrics["vq"]["code_counts"]`` (VQ-family models);
    * ``latent_pca.png`` — ``model.encode`` of the first eval texts, coloured by ``label_column``.

    Returns {name: file} of what was written (empty without matplotlib, with a warning).
    """
    if _figure_class() is None:
        return {}
    out = Path(run_dir) / "plots"
    written: dict[str, Path] = {}
    log = Path(run_dir) / LOG_FILE
    if log.exists():
        curves = plot_curves(read_log(log), VAE_CURVES + VQ_CURVES, out / "curves.png", title=type(model).__name__)
        if curves:
            written["curves"] = curves
    variances = (metrics.get("vae") or {}).get("active_unit_variances")
    if variances:
        written["active_units"] = plot_active_units(variances, out / "active_units.png")
    code_counts = (metrics.get("vq") or {}).get("code_counts")
    if code_counts:
        written["codebook_usage"] = plot_codebook_usage(code_counts, out / "codebook_usage.png")
    if eval_raw is not None and model.offers(ENCODE):
        texts, labels = labelled_texts(eval_raw, text_column, label_column)
        if texts:
            latents = model.encode(texts, batch_size=128)
            written["latent_pca"] = plot_latent_projection(latents.flatten(1), out / "latent_pca.png", labels)
    return written
