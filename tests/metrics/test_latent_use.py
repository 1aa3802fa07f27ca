"""The z-shuffle check: a decoder that ignores z shows no NLL rise, one that reads z shows one."""

import torch

from tests.conftest import make_batch, overfit, tiny_model
from textae.metrics.latent_use import latent_use

TEXTS = ["the cat sat on the mat", "a dog ran", "the bird sang a song", "my old car is red"]


def test_a_decoder_that_cannot_see_z_shows_no_rise(tokenizer):
    model = tiny_model("ae", tokenizer)
    with torch.no_grad():  # every route from z to the decoder closed
        model.decoder.to_memory.weight.zero_(), model.decoder.to_memory.bias.zero_()
        model.decoder.to_embedding.weight.zero_(), model.decoder.to_embedding.bias.zero_()
    use = latent_use(model, [make_batch(model, tokenizer, TEXTS)])
    assert use["sentences"] == 4 and abs(use["rise_per_sentence"]) < 1e-4


def test_an_autoencoder_trained_to_reconstruct_reads_z(tokenizer):
    model = tiny_model("ae", tokenizer)
    batch = make_batch(model, tokenizer, TEXTS)
    overfit(model, batch, steps=60)
    use = latent_use(model, [batch])
    assert use["shuffled_nll_per_sentence"] > use["nll_per_sentence"] and use["rise_ratio"] > 0.5
    assert use["rise_per_sentence"] == use["shuffled_nll_per_sentence"] - use["nll_per_sentence"]


def test_the_cvae_keeps_each_sentence_label_and_one_sentence_batches_give_no_figure(tokenizer):
    model = tiny_model("cvae", tokenizer, id2label={0: "a", 1: "b"})
    use = latent_use(model, [make_batch(model, tokenizer, TEXTS)])
    assert use is not None and use["sentences"] == 4
    assert latent_use(model, [make_batch(model, tokenizer, TEXTS[:1])]) is None
