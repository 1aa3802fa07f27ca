"""Two tokenizers: the encoder reads with its own, the decoder writes with its own. Both save with
the model and load back; the collator's labels are the decoder's ids; one tokenizer changes nothing."""

import json

import pytest
import torch
from transformers import AutoModel

from tests.conftest import TINY_ENCODER
from tests.modules.test_injection import DECODERS
from tests.training.test_loop import TINY
from textae.data import TextAECollator, train_tokenizer
from textae.data.synthetic import synthetic_dataset
from textae.data.tokenization import TokenizerPair, special_ids
from textae.training import load_recipe, train

TEXTS = ["the cat sat on the mat", "a dog ran"]


@pytest.fixture(scope="module")
def decoder_tokenizer_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("decoder_tokenizer")
    train_tokenizer(synthetic_dataset(300, seed=1)["text"], "bpe", vocab_size=150).save_pretrained(folder)
    return folder


def _recipe(tmp_path, decoder_tokenizer_dir, decoder="llama", family="vae", **model):
    tree = json.loads(json.dumps(TINY))
    tree["model"].update(family=family, encoder_config=TINY_ENCODER, decoder_config=DECODERS[decoder], **model)
    tree["data"].update(tokenizer="wordpiece", vocab_size=120, decoder_tokenizer=str(decoder_tokenizer_dir))
    tree["train"].update(max_steps=4, eval_every=0, save_every=0, output_dir=str(tmp_path / "run"))
    return load_recipe(None, [], base=tree)


def test_one_tokenizer_gives_the_config_exactly_what_it_gave_before(tokenizer):
    pair = TokenizerPair(tokenizer)
    assert pair.same and pair.config_ids() == {"vocab_size": len(tokenizer), **special_ids(tokenizer)}


def test_a_vae_reads_with_one_tokenizer_writes_with_another_and_both_come_back(tmp_path, decoder_tokenizer_dir):
    result = train(_recipe(tmp_path, decoder_tokenizer_dir, latent_injection="past_key_values"))
    model = result.model.eval()
    reader, writer = model.tokenizer, model.decoder_tokenizer
    assert writer is not None and len(reader) != len(writer)
    c = model.config
    assert (c.vocab_size, c.encoder_vocab_size) == (len(writer), len(reader)) and c.bos_token_id == writer.bos_token_id
    assert model.encoder.model.get_input_embeddings().num_embeddings == len(reader)
    assert model.decoder.lm.get_input_embeddings().num_embeddings == len(writer)
    assert (result.model_dir / "decoder_tokenizer" / "tokenizer.json").exists()
    assert "reconstruction" in result.metrics and "latent_use" in result.metrics

    loaded = AutoModel.from_pretrained(result.model_dir).eval()
    assert len(loaded.tokenizer) == len(reader) and len(loaded.decoder_tokenizer) == len(writer)
    torch.testing.assert_close(loaded.encode(TEXTS), model.encode(TEXTS), rtol=1e-5, atol=1e-6)
    assert loaded.reconstruct(TEXTS) == model.reconstruct(TEXTS)
    z = torch.randn(2, c.latent_dim)
    assert all(isinstance(t, str) for t in loaded.decode(z))

    # a folder that lost the decoder's tokenizer is refused, naming it
    import shutil

    shutil.rmtree(result.model_dir / "decoder_tokenizer")
    with pytest.raises(ValueError, match="two tokenizers; the decoder's \\(decoder_tokenizer/\\) is missing"):
        AutoModel.from_pretrained(result.model_dir)


def test_the_collator_targets_the_decoders_ids_and_pads_each_side_with_its_own_pad():
    rows = [{"input_ids": [10, 11, 12], "decoder_ids": [20, 21]}, {"input_ids": [13], "decoder_ids": [22, 23, 24]}]
    batch = TextAECollator(pad_token_id=0, bos_token_id=2, eos_token_id=3, decoder_pad_token_id=9)(rows)
    assert batch["input_ids"].tolist() == [[10, 11, 12], [13, 0, 0]]
    assert batch["labels"].tolist() == [[2, 20, 21, 3, -100], [2, 22, 23, 24, 3]]


def test_a_family_with_one_tokenizer_refuses_a_decoder_tokenizer(tmp_path, decoder_tokenizer_dir):
    tree = json.loads(json.dumps(TINY))
    tree["model"] = {"family": "lm", "decoder_config": DECODERS["gpt2"]}
    tree["data"]["decoder_tokenizer"] = str(decoder_tokenizer_dir)
    tree["train"].update(max_steps=1, output_dir=str(tmp_path / "lm"))
    with pytest.raises(ValueError, match="the 'lm' family reads and writes with one tokenizer"):
        train(load_recipe(None, [], base=tree))
    tree["data"]["decoder_tokenizer"] = "bpe"
    with pytest.raises(ValueError, match="must be a local folder or an installed model package"):
        train(load_recipe(None, [], base=tree))
