import pytest
import torch

from tests.conftest import make_batch, tiny_model


def test_vae_samples_from_the_posterior_only_when_training_or_asked(tokenizer, corpus):
    model = tiny_model("vae", tokenizer)
    batch = make_batch(model, tokenizer, corpus[:4])
    model.eval()
    a = model.encode_latent(batch["input_ids"], batch["attention_mask"])
    b = model.encode_latent(batch["input_ids"], batch["attention_mask"])
    assert torch.equal(a.latent, a.mean) and torch.equal(a.latent, b.latent)
    drawn = model.encode_latent(batch["input_ids"], batch["attention_mask"], sample=True)
    assert not torch.equal(drawn.latent, drawn.mean)
    model.train()
    assert not torch.equal(model.encode_latent(batch["input_ids"], batch["attention_mask"]).latent, a.mean)


def test_vae_loss_is_sentence_nll_plus_weighted_kl(tokenizer, corpus):
    model = tiny_model("vae", tokenizer).eval()
    batch = make_batch(model, tokenizer, corpus[:4])
    with torch.no_grad():
        full = model(**batch)
        half = model(**batch, loss_weights={"kl": 0.5})
    terms = full.loss_terms
    assert set(terms) == {"reconstruction", "kl"}
    torch.testing.assert_close(full.loss, terms["reconstruction"] + terms["kl"])
    torch.testing.assert_close(half.loss, terms["reconstruction"] + 0.5 * terms["kl"])
    torch.testing.assert_close(full.stats["nll_per_sentence"], terms["reconstruction"])  # per-sentence reduction
    with pytest.raises(ValueError, match="unknown term 'beta'"):
        model(**batch, loss_weights={"beta": 1.0})


def test_vae_api_sample_interpolate_encode(tokenizer, corpus):
    model = tiny_model("vae", tokenizer).eval()
    assert len(model.sample(3, max_new_tokens=5)) == 3
    path = model.interpolate(corpus[0], corpus[1], steps=4, max_new_tokens=5)
    assert len(path) == 4
    z = model.encode(corpus[:2])
    assert path[0] == model.decode(z[:1], max_new_tokens=5)[0]
    assert path[-1] == model.decode(z[1:], max_new_tokens=5)[0]
    with pytest.raises(ValueError, match="steps must be"):
        model.interpolate("a", "b", steps=1)


def test_word_dropout_replaces_decoder_inputs_but_not_bos_or_padding(tokenizer, corpus):
    model = tiny_model("vae", tokenizer, word_dropout=0.5)
    inputs = torch.tensor([[2, 10, 11, 12, 13, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 1, 0, 0]])
    torch.manual_seed(0)
    out = model._word_dropout(inputs, mask)
    assert out[0, 0] == 2 and out[0, 5:].tolist() == [0, 0]
    changed = (out != inputs)[0, 1:5]
    assert changed.any() and (out[0, 1:5][changed] == model.config.unk_token_id).all()
    with pytest.raises(ValueError, match="word_dropout"):
        tiny_model("vae", tokenizer, word_dropout=1.0)


def test_zero_init_injection_starts_the_decoder_blind_to_z_and_lets_it_learn_to_read_it(tokenizer, corpus):
    model = tiny_model("vae", tokenizer, zero_init_injection=True, inject_embedding=True, memory_slots=2)
    dec = model.decoder
    assert not dec.to_memory.weight.any() and not dec.to_embedding.weight.any() and not dec.to_embedding.bias.any()
    ids = torch.tensor([[tokenizer.bos_token_id, 10, 11, 12]])
    model.eval()
    with torch.no_grad():
        a = dec(ids, latent=torch.randn(1, 16)).logits
        b = dec(ids, latent=torch.randn(1, 16) * 5).logits
    torch.testing.assert_close(a, b)  # the untrained decoder is an LM: z changes nothing yet
    batch = make_batch(model, tokenizer, corpus[:4])
    model.train()
    model(**batch).loss.backward()
    assert dec.to_memory.weight.grad.abs().sum() > 0 and dec.to_embedding.weight.grad.abs().sum() > 0
    default = tiny_model("vae", tokenizer)
    assert default.decoder.to_embedding.weight.std() > 0.01  # off by default: the usual random init


def test_batch_normalised_mean_keeps_every_dimension_spread_and_the_kl_above_its_floor(tokenizer, corpus):
    gamma = 0.6
    model = tiny_model("vae", tokenizer, bottleneck_options={"mean_batchnorm": gamma})
    batch = make_batch(model, tokenizer, corpus[:8])
    model.eval()
    model.bottleneck.train()  # batch statistics in the bottleneck, no dropout in the encoder
    out = model.encode_latent(batch["input_ids"], batch["attention_mask"])
    mean = out.mean.detach()
    # over the batch each dimension of μ has mean = the shift (0 at init) and std γ, whatever the encoder
    torch.testing.assert_close(mean.mean(0), torch.zeros(16), atol=1e-5, rtol=0)
    with torch.no_grad():
        raw = model.bottleneck.to_mean(model.encoder(batch["input_ids"], batch["attention_mask"]).pooled.float()).var(0, unbiased=False)
    eps = model.bottleneck.mean_norm.eps  # batch norm divides by sqrt(var + eps)
    torch.testing.assert_close(mean.var(0, unbiased=False), gamma**2 * raw / (raw + eps), atol=1e-5, rtol=1e-4)
    from textae.modules import gaussian_kl

    # KL_d ≥ μ_d² / 2 for any σ, so E_x KL_d ≥ Var_x μ_d / 2 ≈ γ² / 2
    assert (gaussian_kl(out.mean, out.logvar).mean(0) >= 0.5 * mean.var(0, unbiased=False) - 1e-6).all()
    assert (0.5 * mean.var(0, unbiased=False) > 0.9 * gamma**2 / 2).all()
    with pytest.raises(ValueError, match="mean_batchnorm"):
        tiny_model("vae", tokenizer, bottleneck_options={"mean_batchnorm": -1.0})


def test_the_folded_embedding_head_gives_the_eval_posterior_mean(tokenizer, corpus):
    model = tiny_model("vae", tokenizer, bottleneck_options={"mean_batchnorm": 0.5})
    batch = make_batch(model, tokenizer, corpus[:8])
    model.train()
    for _ in range(3):  # move the running statistics away from their initial values
        model.encode_latent(batch["input_ids"], batch["attention_mask"])
    model.eval()
    with torch.no_grad():
        out = model.encode_latent(batch["input_ids"], batch["attention_mask"])
        head = model.bottleneck.embedding_head()
        pooled = model.encoder(batch["input_ids"], batch["attention_mask"]).pooled.float()
        torch.testing.assert_close(head(pooled), out.mean, atol=1e-5, rtol=1e-5)


def test_a_batch_normalised_vae_saves_and_loads_its_running_statistics(tokenizer, corpus, tmp_path):
    model = tiny_model("vae", tokenizer, bottleneck_options={"mean_batchnorm": 0.6})
    batch = make_batch(model, tokenizer, corpus[:8])
    model.train()
    model.encode_latent(batch["input_ids"], batch["attention_mask"])  # updates the running statistics
    model.eval()
    model.save_pretrained(tmp_path)
    loaded = type(model).from_pretrained(tmp_path).eval()
    assert torch.equal(loaded.bottleneck.mean_norm.running_var, model.bottleneck.mean_norm.running_var)
    with torch.no_grad():
        a = model.encode_latent(batch["input_ids"], batch["attention_mask"]).mean
        b = loaded.encode_latent(batch["input_ids"], batch["attention_mask"]).mean
    assert torch.equal(a, b)
