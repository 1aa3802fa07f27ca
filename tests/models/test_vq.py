"""The VQ family: codes in and out, the tokenizer API, metrics."""

from __future__ import annotations

import datasets
import pytest
import torch

from tests.conftest import make_batch, overfit, tiny_model
from textae import VQTextTokenizer
from textae.metrics.vq import rate_report, usage_report
from textae.models.base import decoder_io

OPTIONS = {"codebook_size": 16, "heads": 2, "downsample": 2}


@pytest.fixture(scope="module")
def trained(tokenizer, corpus):
    model = tiny_model("vq", tokenizer, bottleneck_options=OPTIONS)
    overfit(model, make_batch(model, tokenizer, corpus[:16]), 30)
    return model.eval()


def test_eval_logits_equal_the_logits_decoded_from_the_indices(trained, tokenizer, corpus):
    batch = make_batch(trained, tokenizer, corpus[:6])
    with torch.no_grad():
        out = trained(**batch)
        enc = trained.encode_latent(batch["input_ids"], batch["attention_mask"])
        latent, _ = trained.bottleneck.latent_from_indices(enc.indices, enc.latent_mask)
        dec_inputs, dec_mask, _ = decoder_io(batch["labels"], trained.config.pad_token_id)
        rebuilt = trained.decoder(dec_inputs, dec_mask, latent=latent, latent_mask=enc.latent_mask).logits
    assert torch.equal(latent, out.latent)
    assert torch.equal(rebuilt, out.logits)


def test_codes_have_the_documented_layout_and_go_back_to_the_same_latent(trained, tokenizer, corpus):
    texts = list(corpus[:5])
    codes = trained.encode_codes(texts)
    lengths = [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]
    assert [len(c) for c in codes] == [-(-n // 2) * 2 for n in lengths]  # ceil(n / r) positions × 2 heads
    assert all(c[j] < 16 if j % 2 == 0 else 16 <= c[j] < 32 for c in codes for j in range(len(c)))
    batch = make_batch(trained, tokenizer, texts)
    enc = trained.encode_latent(batch["input_ids"], batch["attention_mask"])
    latent, mask = trained.codes_to_latent(codes)
    real = mask.bool()
    torch.testing.assert_close(latent[real], enc.latent[:, : mask.shape[1]][real], rtol=0, atol=0)


def test_wrong_codes_are_named(trained):
    with pytest.raises(ValueError, match="multiple of 2"):
        trained.codes_to_indices([[1, 17, 3]])
    with pytest.raises(ValueError, match="code 1: id 3 is outside group 1"):
        trained.codes_to_indices([[1, 3]])


def test_tokenizer_round_trip_save_load_and_dataset_map(trained, corpus, tmp_path):
    tok = VQTextTokenizer(trained)
    texts = list(corpus[:6])
    codes = tok.encode(texts)
    assert tok.vocab_size == 32 and tok.codes_per_position == 2 and tok.downsample == 2 and tok.bits_per_code == 4.0
    assert tok.decode(codes) == trained.reconstruct(texts)
    tok.save_pretrained(tmp_path / "tok")
    assert (tmp_path / "tok" / "model.safetensors").exists() and (tmp_path / "tok" / "tokenizer.json").exists()
    loaded = VQTextTokenizer.from_pretrained(tmp_path / "tok")
    assert loaded.encode(texts) == codes and loaded.decode(codes) == tok.decode(codes)
    ds = datasets.Dataset.from_dict({"text": texts + [""]})
    mapped = tok.map(ds, batch_size=4)
    assert mapped["codes"] == codes + [[]]
    with pytest.raises(TypeError, match="list of code sequences"):
        tok.decode(codes[0])


def test_encode_gives_one_vector_per_sentence(trained, corpus):
    vectors = trained.encode(list(corpus[:70]), batch_size=32)
    assert vectors.shape == (70, trained.config.latent_dim) and torch.isfinite(vectors).all()


def test_usage_and_rate_reports():
    usage = usage_report(torch.tensor([[3, 1, 0, 0], [1, 1, 1, 1]]))
    assert usage["codes_used"] == 0.75 and usage["dead_codes"] == 2 and usage["codebook_perplexity_per_group"][1] == pytest.approx(4.0)
    rate = rate_report(groups=2, codebook_size=256, sentences=2, positions=10, tokens=20, tokenizer_vocab=1024)
    assert rate["bits_per_position"] == 16 and rate["bits_per_sentence"] == 80 and rate["bits_per_token"] == 8
    assert rate["tokens_per_code"] == 1.0 and rate["compression_vs_tokenizer_bits"] == 200 / 160


def test_config_defaults_beta_and_cross_attention_only(tokenizer):
    model = tiny_model("vq", tokenizer)
    assert model.config.loss_weights["commitment"] == 0.25 and not model.config.inject_embedding
    assert model.config.bottleneck == "vq" and model.bottleneck.per_position
