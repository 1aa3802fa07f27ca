"""What a finished run measures and writes: the final evaluation, metrics.json, the card, the printed summary."""

from __future__ import annotations

import json

import datasets
import pytest

from tests.conftest import fresh_accelerator, make_batch, tiny_model
from tests.training.test_loop import tiny_recipe
from textae.data import synthetic_dataset
from textae.metrics.evaluation import TOKEN_UNIT, teacher_forced
from textae.training.report import final_metrics, first_texts, write_run_report


def test_first_texts_skips_blank_and_missing_texts_and_strips_the_rest():
    ds = datasets.Dataset.from_dict({"text": ["  a b ", "", None, "   ", "c", "d", "e"]})
    assert first_texts(ds, "text", 3) == ["a b", "c", "d"]
    assert first_texts(ds, "text", 100) == ["a b", "c", "d", "e"]


@pytest.fixture
def lm_run(tmp_path, tokenizer, corpus):
    accelerator = fresh_accelerator()
    model = tiny_model("lm", tokenizer)
    eval_raw = synthetic_dataset(6, seed=0, split="validation")
    eval_dl = [make_batch(model, tokenizer, eval_raw["text"][i : i + 3]) for i in (0, 3)]
    return accelerator, model, tiny_recipe(tmp_path, family="lm"), eval_dl, eval_raw


def test_final_metrics_hold_the_teacher_forced_figures_and_the_family_report(lm_run):
    accelerator, model, recipe, eval_dl, eval_raw = lm_run
    metrics = final_metrics(accelerator, model, recipe, eval_dl, eval_raw, {"steps": 3})
    assert metrics["eval"] == teacher_forced(model, eval_dl)
    assert metrics["token_unit"] == TOKEN_UNIT and metrics["throughput"] == {"steps": 3}
    ref = metrics["exact_reference"]  # the LM's report, set against the grammar's exact NLL
    assert ref["model_over_exact"] == pytest.approx(metrics["eval"]["nll_per_sentence"] / ref["exact_nll_per_sentence"] - 1.0)


def test_the_run_report_writes_metrics_and_card_and_prints_the_family_summary(lm_run, tmp_path):
    accelerator, model, recipe, eval_dl, eval_raw = lm_run
    metrics = final_metrics(accelerator, model, recipe, eval_dl, eval_raw, {"steps": 3})
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    printed = []
    write_run_report(tmp_path, model_dir, model, recipe, metrics, eval_raw, print_fn=printed.append)
    assert json.loads((tmp_path / "metrics.json").read_text()) == json.loads(json.dumps(metrics))
    assert "# TextLM trained with textae" in (model_dir / "README.md").read_text()
    assert printed[0] == "\n".join(model.report_lines(metrics))
    assert printed[0].startswith(f"eval: loss {metrics['eval']['loss']:.4f}")
