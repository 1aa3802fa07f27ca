"""textae.training.build: the model, noise and collator a recipe builds."""

from __future__ import annotations

import pytest

from tests.conftest import TINY_ENCODER
from textae.models import TextElectra, TextMLM
from textae.training import load_recipe
from textae.training.build import build_model, make_collator, resolve_pretrained, uses_text_noise


def recipe(**model):
    base = {"model": {"encoder_config": TINY_ENCODER, **model}, "data": {"source": "synthetic", "max_seq_length": 24}, "train": {"batch_size": 4}}
    return load_recipe(None, [], base=base)


def test_the_family_is_built_with_the_tokenizers_ids(tokenizer):
    model = build_model(recipe(family="mlm"), tokenizer)
    assert type(model) is TextMLM and model.tokenizer is tokenizer
    assert model.config.vocab_size == len(tokenizer) and model.config.mask_token_id == tokenizer.mask_token_id
    assert model.config.max_seq_length == 24
    assert type(build_model(recipe(family="electra"), tokenizer)) is TextElectra


def test_the_old_electra_objective_mlm_builds_the_mlm_family(tokenizer):
    with pytest.warns(FutureWarning, match="family 'mlm'"):
        model = build_model(recipe(family="electra", objective="mlm"), tokenizer)
    assert type(model) is TextMLM and model.config.max_seq_length == 24


def test_the_collator_builds_the_models_batch_format(tokenizer):
    model = build_model(recipe(family="mlm"), tokenizer)
    collator = make_collator(model, recipe(family="mlm"))
    batch = collator([{"input_ids": [7, 8, 9]}, {"input_ids": [7]}])
    assert batch["input_ids"][0, :5].tolist() == [tokenizer.bos_token_id, 7, 8, 9, tokenizer.eos_token_id]  # one [BOS] x [EOS] row
    assert batch["attention_mask"].sum(1).tolist() == [5, 3]


def test_correct_spelling_puts_the_front_end_in_the_training_batches(tokenizer):
    pytest.importorskip("symspellpy", reason="the [dev] extra installs symspellpy")
    from textae.data.spelling import SpellingCorrector
    from textae.training.build import prepare_data

    base = {"model": {"encoder_config": TINY_ENCODER, "family": "dae"}, "data": {"source": "synthetic", "max_seq_length": 24}, "train": {"batch_size": 4}}
    r = load_recipe(None, ["data.correct_spelling=true"], base=base)
    _, train_ds, *_ = prepare_data(r)
    assert isinstance(train_ds[0]["text"], str)  # the text stays beside the ids for the front end
    collator = make_collator(build_model(r, tokenizer), r)
    assert isinstance(collator.front_end, SpellingCorrector)
    assert make_collator(build_model(recipe(family="dae"), tokenizer), recipe(family="dae")).front_end is None


def test_text_noise_is_read_off_the_recipe_or_the_family_default():
    assert not uses_text_noise(recipe(family="mlm"))
    assert uses_text_noise(recipe(family="dae", noise=[{"name": "keyboard_typos", "rate": 0.1}])) is True
    assert not uses_text_noise(recipe(family="dae", noise=[{"name": "mask_tokens", "rate": 0.1}]))  # a token step


def test_a_missing_pretrained_model_is_named(tmp_path):
    assert resolve_pretrained(str(tmp_path)) == str(tmp_path)
    with pytest.raises(FileNotFoundError, match="no-such-model"):
        resolve_pretrained("no-such-model")


def test_every_evaluation_reads_the_same_corruption_however_often_the_loader_is_read():
    from textae.training.build import eval_loader, prepare_data

    r = recipe(family="tagger")
    tokenizer, _, eval_ds, *_ = prepare_data(r)
    loader = eval_loader(eval_ds, make_collator(build_model(r, tokenizer), r), r)
    first = next(iter(loader))
    loader.batch_sampler.set_epoch(3)  # what accelerate's prepared loader does at each pass
    again = next(iter(loader))
    assert all(first[k].equal(again[k]) for k in first) and "tag_labels" in first
