"""The shared configs: renamed keys keep working in recipes and in saved config.json files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from transformers import AutoConfig, AutoModel

from tests.conftest import TINY_DECODER, TINY_ENCODER
from textae.models.configs import RENAMED_KEYS
from textae.models.dae import TextDAEConfig
from textae.training.build import build_model
from textae.training.recipe import load_recipe

SAVED = Path(__file__).resolve().parents[1] / "fixtures" / "saved_models"
OLD = {"latent_dropout": 0.25, "latent_dropout_kind": "spatial"}


def test_the_old_state_dropout_keys_warn_naming_the_new_key_and_set_it():
    with pytest.warns(FutureWarning, match="'latent_dropout' is now 'state_dropout'"):
        config = TextDAEConfig(**OLD)
    assert (config.state_dropout, config.state_dropout_kind) == (0.25, "spatial")
    assert not set(RENAMED_KEYS) & set(config.to_dict())  # a new save writes only the new names


def test_the_new_keys_load_without_a_warning(recwarn):
    config = TextDAEConfig(state_dropout=0.25, state_dropout_kind="spatial")
    assert config.state_dropout == 0.25
    assert not [w for w in recwarn if issubclass(w.category, FutureWarning)]


def test_a_recipe_with_the_old_keys_builds_the_model_with_the_state_dropout(tokenizer):
    base = {"model": {"family": "dae", "latent_dim": 16, "memory_slots": 2, "encoder_config": TINY_ENCODER, "decoder_config": TINY_DECODER, **OLD}}
    recipe = load_recipe(None, [], base=base)
    with pytest.warns(FutureWarning, match="'latent_dropout_kind' is now 'state_dropout_kind'"):
        model = build_model(recipe, tokenizer)
    assert (model.config.state_dropout, model.config.state_dropout_kind) == (0.25, "spatial")
    assert model.encoder.state_dropout.p == 0.25 and type(model.encoder.state_dropout).__name__ == "SpatialDropout"


def test_a_saved_config_with_the_old_keys_loads_them_as_the_new_ones(tmp_path):
    folder = tmp_path / "dae"
    shutil.copytree(SAVED / "dae", folder)
    saved = json.loads((folder / "config.json").read_text())
    assert "latent_dropout" in saved and "state_dropout" not in saved  # written before the rename
    (folder / "config.json").write_text(json.dumps({**saved, **OLD}))
    with pytest.warns(FutureWarning, match="'latent_dropout' is now 'state_dropout'"):
        model = AutoModel.from_pretrained(folder)
    assert (model.config.state_dropout, model.config.state_dropout_kind) == (0.25, "spatial")
    model.save_pretrained(tmp_path / "again")
    again = json.loads((tmp_path / "again" / "config.json").read_text())
    assert again["state_dropout"] == 0.25 and "latent_dropout" not in again
    assert AutoConfig.from_pretrained(tmp_path / "again").state_dropout_kind == "spatial"


def test_a_folder_saved_before_the_rename_with_the_default_dropout_loads_without_a_warning(recwarn):
    model = AutoModel.from_pretrained(SAVED / "dae")
    assert (model.config.state_dropout, model.config.state_dropout_kind) == (0.0, "standard")
    assert not [w for w in recwarn if issubclass(w.category, FutureWarning)]
