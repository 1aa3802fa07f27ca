"""Range checks of recipe values: a value no run can use is named with its range before anything loads."""

from __future__ import annotations

import dataclasses

import pytest

from tests.training.test_loop import tiny_recipe
from textae.training.recipe import RecipeError, ScheduleSpec
from textae.training.recipe_checks import DATA_RANGES, TRAIN_RANGES, check_values


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.learning_rate=0.0", r"^train.learning_rate must be > 0.0, got 0.0$"),
        ("train.learning_rate=.nan", r"^train.learning_rate must be a finite number > 0.0, got nan$"),
        ("train.batch_size=0", r"^train.batch_size must be ≥ 1, got 0$"),
        ("train.adam_beta2=1.0", r"^train.adam_beta2 must be in \[0.0, 1.0\), got 1.0$"),
        ("train.adam_beta2=-0.5", r"^train.adam_beta2 must be in \[0.0, 1.0\), got -0.5$"),
        ("train.log_every=0", r"^train.log_every must be ≥ 1, got 0$"),
        ("data.max_seq_length=0", r"^data.max_seq_length must be ≥ 1, got 0$"),
        ("model.word_dropout=1.5", r"^model.word_dropout is a probability and must be in \[0, 1\], got 1.5$"),
    ],
)
def test_a_value_out_of_range_is_named_with_its_range(tmp_path, override, message):
    with pytest.raises(RecipeError, match=message):
        tiny_recipe(tmp_path, override)


def test_values_at_the_edges_of_their_ranges_pass(tmp_path):
    recipe = tiny_recipe(tmp_path, "train.adam_beta2=0.0", "train.max_grad_norm=0.0", "train.eval_every=0", "train.save_every=0",
                         "train.keep_checkpoints=0", "train.warmup_steps=0", "model.word_dropout=1.0", "train.eval_every=500")
    assert check_values(recipe) is recipe  # eval_every past max_steps: evaluated once, at the end


def test_a_non_finite_loss_weight_is_named(tmp_path):
    recipe = tiny_recipe(tmp_path)
    recipe.train.loss_weights = {"kl": ScheduleSpec(value=float("inf"))}
    with pytest.raises(RecipeError, match=r"^train.loss_weights.kl: value and start must be finite numbers, got inf, 0.0$"):
        check_values(recipe)


def test_unset_optional_values_and_booleans_among_model_rates_are_left_alone(tmp_path):
    recipe = tiny_recipe(tmp_path)
    recipe.data = dataclasses.replace(recipe.data, max_train_examples=None)
    recipe.model["use_dropout"] = True  # a flag, not a probability
    assert check_values(recipe) is recipe


def test_every_checked_key_is_a_field_of_its_section(tmp_path):
    recipe = tiny_recipe(tmp_path)
    assert set(TRAIN_RANGES) <= {f.name for f in dataclasses.fields(recipe.train)}
    assert set(DATA_RANGES) <= {f.name for f in dataclasses.fields(recipe.data)}
