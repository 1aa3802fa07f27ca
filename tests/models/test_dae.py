"""The denoising autoencoder: its corruption, the consistency term, the continuous noises."""

from __future__ import annotations

import pytest
import torch

from tests.conftest import make_batch, tiny_model
from textae.models.dae import TSDAE_NOISE
from textae.noise import SpatialDropout, StandardDropout


def test_default_corruption_is_tsdae_deletion_and_survives_save(tokenizer, tmp_path):
    model = tiny_model("dae", tokenizer)
    assert model.config.noise == TSDAE_NOISE == [{"name": "delete_tokens", "rate": 0.6}]
    model.config.noise = [{"name": "insert_emoji", "rate": 0.2}]
    model.save_pretrained(tmp_path)
    from transformers import AutoConfig

    assert AutoConfig.from_pretrained(tmp_path).noise == [{"name": "insert_emoji", "rate": 0.2}]


def test_consistency_term_only_when_weighted_and_zero_on_clean_input(tokenizer, corpus):
    model = tiny_model("dae", tokenizer).eval()
    batch = make_batch(model, tokenizer, corpus[:4])
    clean = {"clean_input_ids": batch["input_ids"], "clean_attention_mask": batch["attention_mask"]}
    assert "consistency" not in model(**batch, **clean).loss_terms  # weight 0: not computed
    out = model(**batch, **clean, loss_weights={"consistency": 2.0})
    assert out.loss_terms["consistency"].item() == pytest.approx(0.0, abs=1e-6)  # noisy == clean
    torch.testing.assert_close(out.loss, out.loss_terms["reconstruction"] + 2.0 * out.loss_terms["consistency"])


def test_consistency_gradient_flows_through_the_noisy_side_only(tokenizer, corpus):
    model = tiny_model("dae", tokenizer).eval()
    batch = make_batch(model, tokenizer, corpus[:4])
    noisy_ids = batch["input_ids"].clone()
    noisy_ids[:, 0] = tokenizer.mask_token_id

    def grads(loss):
        model.zero_grad()
        loss.backward()
        return [p.grad.clone() for p in model.encoder.parameters() if p.grad is not None]

    z = model.encode_latent(noisy_ids, batch["attention_mask"]).latent
    ours = grads(model.consistency_loss(z, batch["input_ids"], batch["attention_mask"]))
    target = model.encode_latent(batch["input_ids"], batch["attention_mask"]).latent.detach()
    z = model.encode_latent(noisy_ids, batch["attention_mask"]).latent
    reference = grads((1 - torch.nn.functional.cosine_similarity(z, target, dim=-1)).mean())
    assert len(ours) == len(reference) > 0 and any(g.abs().sum() > 0 for g in ours)
    for a, b in zip(ours, reference):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("kind, cls", [("standard", StandardDropout), ("spatial", SpatialDropout)])
def test_latent_dropout_and_embedding_noise_act_in_training_only(tokenizer, corpus, kind, cls):
    model = tiny_model("dae", tokenizer, latent_dropout=0.5, latent_dropout_kind=kind, embedding_noise=0.3)
    assert isinstance(model.encoder.state_dropout, cls)
    batch = make_batch(model, tokenizer, corpus[:4])
    model.eval()
    a = model.encode_latent(batch["input_ids"], batch["attention_mask"]).latent
    b = model.encode_latent(batch["input_ids"], batch["attention_mask"]).latent
    assert torch.equal(a, b)
    model.train()
    torch.manual_seed(0)
    c = model.encode_latent(batch["input_ids"], batch["attention_mask"]).latent
    assert not torch.allclose(a, c)


def test_unknown_latent_dropout_kind_is_named(tokenizer):
    with pytest.raises(ValueError, match="unknown latent dropout kind 'channel'"):
        tiny_model("dae", tokenizer, latent_dropout=0.1, latent_dropout_kind="channel")


def test_identity_without_projection_returns_the_pooled_vector(tokenizer, corpus):
    model = tiny_model("dae", tokenizer, latent_dim=None, bottleneck_options={"project": False}).eval()
    assert model.config.latent_dim == model.encoder.hidden_size == 32
    batch = make_batch(model, tokenizer, corpus[:3])
    encoded = model.encoder(batch["input_ids"], batch["attention_mask"])
    assert torch.equal(model.encode_latent(batch["input_ids"], batch["attention_mask"]).latent, encoded.pooled)
    with pytest.raises(ValueError, match="latent_dim == the encoder's hidden size"):
        tiny_model("dae", tokenizer, latent_dim=16, bottleneck_options={"project": False})


BERT_DECODER = {"model_type": "bert", "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64, "max_position_embeddings": 64}


def test_tied_encoder_and_decoder_share_weights_through_training_and_save(tokenizer, corpus, tmp_path):
    from transformers import AutoModel

    from tests.conftest import overfit

    model = tiny_model("dae", tokenizer, decoder_config=BERT_DECODER, tie_encoder_decoder=True)
    enc, dec = model.encoder.model, model.decoder.lm
    assert dec.bert.encoder.layer[0].attention.self.query.weight is enc.encoder.layer[0].attention.self.query.weight
    assert dec.bert.embeddings.word_embeddings.weight is enc.embeddings.word_embeddings.weight
    assert dec.cls.predictions.decoder.weight is enc.embeddings.word_embeddings.weight  # the LM head follows
    assert dec.bert.encoder.layer[0].crossattention.self.query.weight is not None  # the decoder's own
    shared = sum(p.numel() for p in model.parameters())
    untied = sum(p.numel() for p in tiny_model("dae", tokenizer, decoder_config=BERT_DECODER).parameters())
    assert shared < untied
    batch = make_batch(model, tokenizer, corpus[:4])
    overfit(model, batch, 2)
    assert dec.bert.encoder.layer[0].output.dense.weight is enc.encoder.layer[0].output.dense.weight
    model.eval().save_pretrained(tmp_path)
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    assert loaded.decoder.lm.bert.encoder.layer[0].attention.self.key.weight is loaded.encoder.model.encoder.layer[0].attention.self.key.weight
    with torch.no_grad():
        torch.testing.assert_close(model(**batch).logits, loaded(**batch).logits, rtol=0, atol=0)


# ---- teacher-anchored consistency (consistency_target="teacher") -------------------------------
def _teacher_model(tokenizer, **weights):
    return tiny_model("dae", tokenizer, consistency_target="teacher", loss_weights=weights)


def _with_clean(batch, noisy_ids=None):
    clean = {"clean_input_ids": batch["input_ids"], "clean_attention_mask": batch["attention_mask"]}
    return {**batch, **({"input_ids": noisy_ids} if noisy_ids is not None else {}), **clean}


def test_teacher_target_is_zero_when_student_is_teacher_and_input_clean(tokenizer, corpus):
    model = _teacher_model(tokenizer, consistency=2.0, anchor=1.0).eval()
    out = model(**_with_clean(make_batch(model, tokenizer, corpus[:4])))
    assert out.loss_terms["consistency"].item() == pytest.approx(0.0, abs=1e-6)
    assert out.loss_terms["anchor"].item() == pytest.approx(0.0, abs=1e-6)
    torch.testing.assert_close(out.loss, out.loss_terms["reconstruction"])


def test_teacher_stays_frozen_out_of_the_state_dict_and_gets_no_gradient(tokenizer, corpus, tmp_path):
    model = _teacher_model(tokenizer, consistency=4.0, anchor=1.0, reconstruction=0.0)
    model.freeze_teacher()
    teacher = model.__dict__["_teacher"]
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    assert not any(k.startswith("_teacher") or "teacher" in k for k in model.state_dict())
    assert all(not p.requires_grad for p in teacher.parameters())
    assert {id(p) for p in teacher.parameters()}.isdisjoint(id(p) for p in model.parameters())
    batch = make_batch(model, tokenizer, corpus[:4])
    noisy = batch["input_ids"].clone()
    noisy[:, 1] = tokenizer.mask_token_id
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    student_before = model.encoder.model.embeddings.word_embeddings.weight.clone()
    for _ in range(2):
        out = model(**_with_clean(batch, noisy))
        assert "reconstruction" not in out.loss_terms and out.loss_terms["consistency"] > 0  # no decoder run
        optimizer.zero_grad()
        out.loss.backward()
        assert all(p.grad is None for p in teacher.parameters())
        assert all(p.grad is None for p in model.decoder.parameters())
        optimizer.step()
    assert not torch.equal(student_before, model.encoder.model.embeddings.word_embeddings.weight)  # the student moved
    for k, v in teacher.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert not teacher.training
    model.save_pretrained(tmp_path)
    from safetensors.torch import load_file

    assert set(load_file(tmp_path / "model.safetensors")) <= set(model.state_dict())
    reloaded = type(model).from_pretrained(tmp_path)
    assert reloaded.config.consistency_target == "teacher" and "_teacher" not in reloaded.__dict__


def test_teacher_consistency_and_anchor_match_their_definitions(tokenizer, corpus):
    model = _teacher_model(tokenizer, consistency=3.0, anchor=0.5)
    model.freeze_teacher()
    with torch.no_grad():  # move the student away from the teacher
        for p in model.encoder.parameters():
            p.add_(0.05 * torch.randn_like(p))
    model.eval()
    batch = make_batch(model, tokenizer, corpus[:4])
    noisy = batch["input_ids"].clone()
    noisy[:, 1] = tokenizer.mask_token_id
    out = model(**_with_clean(batch, noisy))
    teacher = model.teacher_latent(batch["input_ids"], batch["attention_mask"])
    clean = model.encode_latent(batch["input_ids"], batch["attention_mask"]).latent
    noisy_z = model.encode_latent(noisy, batch["attention_mask"]).latent
    cos = torch.nn.functional.cosine_similarity
    torch.testing.assert_close(out.loss_terms["consistency"], (1 - cos(noisy_z, teacher, dim=-1)).mean())
    torch.testing.assert_close(out.loss_terms["anchor"], (1 - cos(clean, teacher, dim=-1)).mean())
    assert out.loss_terms["anchor"] > 1e-4
    torch.testing.assert_close(out.loss, out.loss_terms["reconstruction"] + 3.0 * out.loss_terms["consistency"] + 0.5 * out.loss_terms["anchor"])


def test_bad_consistency_target_and_anchor_without_teacher_are_named(tokenizer):
    with pytest.raises(ValueError, match="consistency_target must be one of"):
        tiny_model("dae", tokenizer, consistency_target="ema")
    with pytest.raises(ValueError, match="anchor term needs consistency_target='teacher'"):
        tiny_model("dae", tokenizer, loss_weights={"anchor": 1.0})


@pytest.mark.parametrize("target", ["self", "teacher"])
def test_the_contrastive_term_is_infonce_over_the_batch_and_needs_clean_inputs(tokenizer, target):
    model = tiny_model("dae", tokenizer, consistency_target=target, loss_weights={"contrastive": 1.0})
    assert model.batch_spec().clean_inputs  # naming the term builds the clean view
    z = torch.randn(4, 16)
    aligned = model.contrastive_loss(z, z)
    shuffled = model.contrastive_loss(z, z[[1, 2, 3, 0]])
    assert aligned < shuffled  # its own target is the positive
    assert torch.isclose(model.contrastive_loss(z, z * 3.0), aligned)  # cosine: the scale of a target does not matter
    # in a training forward it is computed, weighted, and reaches the encoder
    from tests.conftest import make_batch

    texts = ["the cat sat on the mat", "a dog ran", "the bird sang a song", "my old car is red"]
    batch = make_batch(model, tokenizer, texts)
    batch["clean_input_ids"], batch["clean_attention_mask"] = batch["input_ids"].clone(), batch["attention_mask"].clone()
    model.train()
    out = model(**batch)
    assert "contrastive" in out.loss_terms and out.loss_terms["contrastive"] > 0
    out.loss.backward()
    assert model.encoder.model.embeddings.word_embeddings.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="contrastive_temperature must be > 0"):
        tiny_model("dae", tokenizer, contrastive_temperature=0.0)


def test_the_word_term_pulls_each_noisy_word_toward_the_teachers_clean_word(tokenizer, corpus):
    from textae.data import TextAECollator
    from textae.data.tokenization import encode_texts
    from textae.models.losses import word_cosine_distance
    from textae.noise import NoisePipeline

    model = _teacher_model(tokenizer, consistency=1.0, word_consistency=2.0, reconstruction=0.0)
    spec = model.batch_spec()
    assert spec.clean_inputs and spec.word_ids
    assert not _teacher_model(tokenizer, consistency=1.0, reconstruction=0.0).batch_spec().word_ids
    texts = corpus[:6]
    rows = [{"input_ids": x, "text": t, "noise_seed": i} for i, (x, t) in enumerate(zip(encode_texts(tokenizer, texts, 64), texts))]

    def batch_with(noise):
        collate = TextAECollator(
            tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id, noise=NoisePipeline(noise), tokenizer=tokenizer,
            max_length=64, clean_inputs=True, word_ids=True,
        )
        return collate(rows)

    model.freeze_teacher()
    model.eval()  # no dropout: the term against its formula
    clean = batch_with([{"name": "keyboard_typos", "rate": 0.0}])
    assert (clean["word_ids"] >= 0).any()
    out = model(**clean, loss_weights={"reconstruction": 0.0})
    assert out.loss_terms["word_consistency"].item() == pytest.approx(0.0, abs=1e-5)  # clean input: the student's words are the teacher's
    noisy = batch_with([{"name": "keyboard_typos", "rate": 0.5}])
    out = model(**noisy)
    states = model.encoder(noisy["input_ids"], noisy["attention_mask"]).states
    target = model.__dict__["_teacher"]["encoder"](noisy["clean_input_ids"], noisy["clean_attention_mask"]).states
    torch.testing.assert_close(out.loss_terms["word_consistency"], word_cosine_distance(states, noisy["word_ids"], target, noisy["clean_word_ids"]))
    assert out.loss_terms["word_consistency"] > 0.01
    torch.testing.assert_close(out.loss, out.loss_terms["consistency"] + 2.0 * out.loss_terms["word_consistency"])
    out.loss_terms["word_consistency"].backward()
    assert model.encoder.model.embeddings.word_embeddings.weight.grad.abs().sum() > 0


def test_the_word_term_needs_a_teacher_and_no_reconstruction(tokenizer):
    with pytest.raises(ValueError, match="word_consistency term needs consistency_target='teacher'"):
        tiny_model("dae", tokenizer, loss_weights={"word_consistency": 1.0, "reconstruction": 0.0})
    with pytest.raises(ValueError, match="loss_weights.reconstruction: 0"):
        _teacher_model(tokenizer, word_consistency=1.0)
