"""The README written beside a trained model: it says how to load it and holds the recipe and metrics intact."""

from __future__ import annotations

import json
import re

import yaml

from tests.training.test_loop import tiny_recipe
from textae.training.model_card import write_model_card

METRICS = {
    "eval": {"loss": 1.25, "nll_per_sentence": 20.5, "ppl": 9.125},
    "token_unit": "tokens of the run's tokenizer",
    "reconstruction": {"exact_match": 0.5, "token_accuracy": 0.875, "bleu": 61.25},
    "train_history_tail": [{"step": 1}],
}


def card(tmp_path, metrics):
    write_model_card(tmp_path, tiny_recipe(tmp_path), metrics, "TextAE")
    return (tmp_path / "README.md").read_text(encoding="utf-8")


def block(text, language):
    return re.search(f"```{language}\n(.*?)\n```", text, re.S).group(1)


def test_the_card_has_hub_metadata_and_says_how_to_load_the_model(tmp_path):
    text = card(tmp_path, METRICS)
    assert text.startswith("---\nlibrary_name: textae\n")
    assert "# TextAE trained with textae" in text
    assert f'model = AutoModel.from_pretrained("{tmp_path}")' in text
    assert "Family `ae`, trained for 12 steps on `synthetic`" in text


def test_the_figures_are_printed_as_measured(tmp_path):
    text = card(tmp_path, METRICS)
    assert "- loss: 1.2500" in text and "- NLL per sentence: 20.500 nats" in text
    assert "- PPL: 9.125 (tokens of the run's tokenizer)" in text
    assert "- reconstruction exact match: 50.00%" in text and "- reconstruction BLEU: 61.2" in text


def test_the_recipe_and_the_metrics_round_trip_through_the_card(tmp_path):
    recipe = tiny_recipe(tmp_path)
    text = card(tmp_path, METRICS)
    assert yaml.safe_load(block(text, "yaml")) == recipe.to_dict()
    assert json.loads(block(text, "json")) == {k: v for k, v in METRICS.items() if k != "train_history_tail"}


def test_a_model_without_reconstructions_or_ppl_gets_no_such_lines(tmp_path):
    text = card(tmp_path, {"eval": {"loss": 0.5}})
    assert "reconstruction" not in text.split("## Recipe")[0]
    assert "- PPL: nan" in text  # no PPL for this family: said, not invented
