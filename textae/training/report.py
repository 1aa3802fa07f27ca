"""What a finished run measures and writes beside its model: the final evaluation, ``metrics.json``,
the model card, the printed summary and the plots."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from ..metrics.evaluation import TOKEN_UNIT, teacher_forced
from .build import text_column
from .model_card import write_model_card
from .recipe import Recipe


def final_metrics(accelerator, model, recipe: Recipe, eval_dl, eval_raw, throughput: dict) -> dict:
    """The teacher-forced figures over every process, then (main process) the family's own report."""
    t = recipe.train
    metrics = {"eval": teacher_forced(model, eval_dl, accelerator, t.eval_max_batches), "token_unit": TOKEN_UNIT, "throughput": throughput}
    if accelerator.is_main_process:
        texts = first_texts(eval_raw, text_column(recipe), 500)
        family = accelerator.unwrap_model(model)
        metrics.update(
            family.evaluation_report(
                eval_dl, texts, metrics["eval"], eval_data=eval_raw, max_batches=t.eval_max_batches,
                iw_samples=t.iw_samples, batch_size=t.eval_batch_size, examples=t.show_reconstructions,
            )
        )
    return metrics


def write_run_report(run_dir: Path, model_dir: Path, model, recipe: Recipe, metrics: dict, eval_raw, print_fn=print) -> None:
    """metrics.json, the model card and the plots of a finished run; prints the family's summary."""
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    write_model_card(model_dir, recipe, metrics, type(model).__name__)
    print_fn("\n".join(model.report_lines(metrics)))
    from .plots import write_run_plots

    plots = write_run_plots(run_dir, model, metrics, eval_raw, text_column(recipe), recipe.data.label_column)
    if plots:
        print_fn("plots: " + ", ".join(str(p) for p in plots.values()))


def first_texts(ds, column: str, n: int) -> list[str]:
    """The first ``n`` non-blank texts of ``ds[column]``, stripped."""
    texts = (row[column] for row in ds)
    return list(itertools.islice((x.strip() for x in texts if isinstance(x, str) and x.strip()), n))
