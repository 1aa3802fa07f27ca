from pathlib import Path

import pytest

from tests.conftest import REPO
import textae
from textae.noise import NoisePipeline
from textae.training import RecipeError, load_recipe

RECIPES = sorted((REPO / "recipes").glob("*.yaml"))


def test_there_are_recipes():
    assert {p.name for p in RECIPES} >= {"quickstart.yaml", "ae_ptb.yaml", "lm_ptb.yaml"}


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_every_recipe_loads_and_its_header_gives_the_command(path):
    recipe = load_recipe(path)
    assert recipe.model["family"]
    header = [line for line in path.read_text().splitlines() if line.startswith("#")]
    assert any(f"textae train recipes/{path.name}" in line for line in header), "header must give the exact command"
    # the model section makes a valid config of its family, its noise a valid pipeline
    settings = {k: v for k, v in recipe.model.items() if k not in ("family", "encoder_pretrained", "decoder_pretrained")}
    config_cls, _ = textae.FAMILIES[recipe.model["family"]]
    config = config_cls(**settings)
    NoisePipeline(getattr(config, "noise", None) or [], mask_id=4, vocab_size=100)


def test_overrides_apply_with_types():
    r = load_recipe(REPO / "recipes/quickstart.yaml", ["train.max_steps=7", "model.latent_dim=8", "train.learning_rate=1e-3", "data.train_files=a.txt"])
    assert (r.train.max_steps, r.model["latent_dim"], r.train.learning_rate, r.data.train_files) == (7, 8, 1e-3, ["a.txt"])


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.max_stepz=3", "unknown key train.max_stepz"),
        ("data.colum=text", "unknown key data.colum"),
        ("model.latent_dims=3", "unknown key model.latent_dims"),
        ("train.max_steps=lots", "train.max_steps must be int, got 'lots'"),
        ("train.bf16=3", "train.bf16 must be bool or 'auto'"),
        ("model.latent_dim=1.5", "model.latent_dim must be"),
        ("model.vocab_size=10", "model.vocab_size is set from the tokenizer"),
        ("model.family=nope", "unknown model family 'nope'"),
        ("optim.lr=1", "must start with model., data. or train."),
        ("train.max_steps", "must look like section.key=value"),
    ],
)
def test_bad_recipes_name_the_problem(override, message):
    with pytest.raises(RecipeError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        load_recipe(REPO / "recipes/quickstart.yaml", [override])


def test_missing_recipe_file_and_unknown_section(tmp_path):
    with pytest.raises(RecipeError, match="recipe file not found"):
        load_recipe(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: {family: ae}\ntraining: {max_steps: 3}\n")
    with pytest.raises(RecipeError, match="unknown section 'training'"):
        load_recipe(bad)


def test_loss_weight_schedules_parse():
    r = load_recipe(REPO / "recipes/quickstart.yaml", ["train.loss_weights={reconstruction: {kind: linear, warmup_steps: 10}}"])
    assert r.train.loss_weights["reconstruction"].kind == "linear"
    with pytest.raises(RecipeError, match="unknown key train.loss_weights.reconstruction.knd"):
        load_recipe(REPO / "recipes/quickstart.yaml", ["train.loss_weights={reconstruction: {knd: linear}}"])


PTB = REPO.parent / "shared" / "data" / "ptb"


@pytest.mark.skipif(not (PTB / "train.txt").exists(), reason="PTB is not in ../shared/data (benchmark data; not shipped with textae)")
@pytest.mark.parametrize("name", ["lm_ptb.yaml", "ae_ptb.yaml"])
def test_ptb_recipes_read_the_shared_data_with_a_10k_vocabulary(name, monkeypatch):
    from textae.training.build import build_tokenizer, raw_split

    monkeypatch.chdir(REPO)
    recipe = load_recipe(REPO / "recipes" / name, ["data.max_eval_examples=10"])
    train_raw = raw_split(recipe, "train")
    assert len(train_raw) == 42068 and len(raw_split(recipe, "eval")) == 10
    tokenizer = build_tokenizer(recipe, train_raw)
    # PTB's 10k vocabulary counts the sentence end: 9,999 word types (<unk> included) + [EOS]; plus [PAD] [UNK] [BOS] [MASK]
    assert len(tokenizer) == 9999 + 5
