"""The composable core: a short forward, conditioning and family logic left to the families."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import torch

from tests.conftest import make_batch, tiny_model
from textae.models import base


def test_the_core_forward_takes_at_most_six_inputs_and_knows_no_family_column():
    params = [p for p in inspect.signature(base.TextAutoencoderModel.forward).parameters if p != "self"]
    assert len(params) <= 6, params
    assert "class_label" not in Path(base.__file__).read_text()


def test_the_names_imported_from_base_still_resolve():
    for name in ("TextAEOutput", "TextLMOutput", "TextAutoencoderConfig", "TextAEBaseConfig", "DEFAULT_ENCODER", "IGNORE_INDEX",
                 "decoder_io", "token_cross_entropy", "cosine_distance", "length_sorted_batches", "eval_mode"):
        assert getattr(base, name) is not None


def test_an_unconditioned_family_refuses_a_column_it_is_not_conditioned_on(tokenizer, corpus):
    model = tiny_model("ae", tokenizer)
    batch = make_batch(model, tokenizer, corpus[:2])
    with pytest.raises(ValueError, match=r"not conditioned on a label or any other column; drop \['style'\]"):
        model(**batch, style=torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="not conditioned"):
        model.encode(corpus[:2], style=[0, 1])


@pytest.mark.parametrize("family", ["ae", "dae", "vq"])
def test_a_family_that_does_not_apply_word_dropout_refuses_it_for_training(family, tokenizer):
    model = tiny_model(family, tokenizer, word_dropout=0.3)  # a saved model with it still loads
    with pytest.raises(ValueError, match="does not apply word dropout"):
        model.prepare_for_training()


def test_only_the_vae_families_drop_decoder_words(tokenizer, corpus):
    for family, drops in (("ae", False), ("vae", True), ("cvae", True)):
        model = tiny_model(family, tokenizer, word_dropout=0.9, **({"id2label": {0: "a", 1: "b"}} if family == "cvae" else {})).train()
        inputs, mask = torch.full((4, 6), 7), torch.ones(4, 6, dtype=torch.long)
        dropped = model.decoder_inputs(inputs, mask)
        assert bool((dropped == tokenizer.unk_token_id).any()) is drops, family


def test_every_autoencoder_family_still_weighs_the_consistency_term(tokenizer, corpus):
    for family in ("ae", "vae", "vq"):
        model = tiny_model(family, tokenizer).eval()
        batch = make_batch(model, tokenizer, corpus[:4])
        noisy = batch["input_ids"].clone()
        noisy[:, 1] = tokenizer.mask_token_id
        out = model(**{**batch, "input_ids": noisy}, clean_input_ids=batch["input_ids"], clean_attention_mask=batch["attention_mask"], loss_weights={"consistency": 1.0})
        assert out.loss_terms["consistency"] > 0, family
        assert model.batch_spec({"consistency": 1.0}).clean_inputs and not model.batch_spec().clean_inputs
        torch.testing.assert_close(out.loss, sum(w * out.loss_terms[k] for k, w in model.resolved_loss_weights({"consistency": 1.0}).items() if k in out.loss_terms))



def test_decoder_io_shifts_labels_into_inputs_and_targets():
    labels = torch.tensor([[1, 5, 6, 2], [1, 7, 2, base.IGNORE_INDEX]])
    inputs, mask, targets = base.decoder_io(labels, pad_token_id=0)
    assert inputs.tolist() == [[1, 5, 6], [1, 7, 2]]  # [BOS] x: the last label is never read
    assert mask.tolist() == [[1, 1, 1], [1, 1, 1]]
    assert torch.equal(targets, labels[:, 1:])  # x [EOS]: position t predicts label t + 1
    padded = torch.tensor([[1, 5, 2, base.IGNORE_INDEX, base.IGNORE_INDEX]])
    inputs, mask, targets = base.decoder_io(padded, pad_token_id=9)
    assert inputs.tolist() == [[1, 5, 2, 9]] and mask.tolist() == [[1, 1, 1, 0]]
    assert targets.tolist() == [[5, 2, base.IGNORE_INDEX, base.IGNORE_INDEX]]


@pytest.mark.parametrize("batch_size", [1, 2, 3, 10])
def test_length_sorted_batches_cover_every_index_once_longest_first(batch_size):
    lengths = [3, 9, 1, 9, 4, 7, 2]
    batches = base.length_sorted_batches(lengths, batch_size)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(lengths)))
    assert all(len(b) == batch_size for b in batches[:-1]) and 0 < len(batches[-1]) <= batch_size
    assert [lengths[i] for i in flat] == sorted(lengths, reverse=True)
    assert base.length_sorted_batches([], batch_size) == []
