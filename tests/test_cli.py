"""The textae command end to end on a tiny run: train → eval → generate → encode."""

import json

import numpy as np
import pytest
import yaml

from tests.conftest import TINY_DECODER, TINY_ENCODER
from textae.cli import main


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    recipe = {
        "model": {"family": "ae", "latent_dim": 16, "memory_slots": 2, "encoder_config": TINY_ENCODER, "decoder_config": TINY_DECODER},
        "data": {"source": "synthetic", "synthetic_train_size": 128, "synthetic_eval_size": 16, "max_seq_length": 24},
        "train": {"max_steps": 4, "batch_size": 16, "warmup_steps": 1, "eval_every": 0, "save_every": 0, "log_every": 2},
    }
    path = root / "tiny.yaml"
    path.write_text("# textae train tiny.yaml\n" + yaml.safe_dump(recipe))
    run = root / "run"
    assert main(["train", str(path), f"train.output_dir={run}"]) == 0
    return root, run


def test_eval_writes_metrics(trained_run, capsys):
    _, run = trained_run
    assert main(["eval", str(run), "--reconstruct", "8"]) == 0
    metrics = json.loads((run / "eval.json").read_text())
    assert metrics["eval"]["sentences"] == 16 and "exact_match" in metrics["reconstruction"]
    assert json.loads(capsys.readouterr().out)["eval"]["ppl"] == metrics["eval"]["ppl"]


def test_generate_reconstructs_input_lines(trained_run, capsys):
    root, run = trained_run
    lines = root / "in.txt"
    lines.write_text("i loved the pizza .\n\nthe hotel was lovely .\n")
    assert main(["generate", str(run), "--input", str(lines)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert [line.split("\t")[0] for line in out] == ["i loved the pizza .", "the hotel was lovely ."]


def test_generate_without_a_prior_says_so(trained_run, capsys):
    _, run = trained_run
    with pytest.raises(SystemExit, match="no prior to sample from"):
        main(["generate", str(run), "-n", "2"])


def test_encode_writes_npy_and_jsonl(trained_run):
    root, run = trained_run
    lines = root / "enc.txt"
    lines.write_text("i loved the pizza .\nthe hotel was lovely .\nwhat a great film !\n")
    assert main(["encode", str(run), "--input", str(lines), "--output", str(root / "e.npy"), "--normalize"]) == 0
    vectors = np.load(root / "e.npy")
    assert vectors.shape == (3, 16)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert main(["encode", str(run), "--input", str(lines), "--output", str(root / "e.jsonl")]) == 0
    rows = [json.loads(x) for x in (root / "e.jsonl").read_text().splitlines()]
    assert [r["text"] for r in rows] == lines.read_text().splitlines() and len(rows[0]["embedding"]) == 16


def test_encode_can_correct_spelling_first(trained_run):
    pytest.importorskip("symspellpy", reason="the [dev] extra installs symspellpy")
    from transformers import AutoModel

    from textae.data.spelling import SpellingCorrector

    root, run = trained_run
    lines = root / "typos.txt"
    lines.write_text("i lovde the pizaz .\nthe hotle was lovely .\n")
    assert main(["encode", str(run), "--input", str(lines), "--output", str(root / "s.jsonl"), "--correct-spelling"]) == 0
    rows = [json.loads(x) for x in (root / "s.jsonl").read_text().splitlines()]
    assert [r["text"] for r in rows] == lines.read_text().splitlines()  # the lines as given
    model = AutoModel.from_pretrained(run / "model")
    corrected = SpellingCorrector()(lines.read_text().splitlines())
    assert corrected != lines.read_text().splitlines()
    np.testing.assert_allclose([r["embedding"] for r in rows], model.encode(corrected).numpy(), atol=1e-5)


def test_bad_inputs_are_named(trained_run, tmp_path, capsys):
    _, run = trained_run
    assert main(["train", str(tmp_path / "missing.yaml")]) == 2
    assert "recipe file not found" in capsys.readouterr().err
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("ok line\ncaf\xe9\n".encode("latin-1"))
    with pytest.raises(SystemExit, match="line 2 is not valid UTF-8"):
        main(["encode", str(run), "--input", str(bad)])
    with pytest.raises(SystemExit, match="no saved model"):
        main(["eval", str(tmp_path)])


def test_export_writes_a_sentence_transformers_folder(trained_run, tmp_path, capsys):
    st = pytest.importorskip("sentence_transformers", reason="the [st] extra installs sentence-transformers")
    import torch
    from transformers import AutoModel

    _, run = trained_run
    assert main(["export", str(run), "--sentence-transformers", str(tmp_path / "st")]) == 0
    assert "SentenceTransformer(" in capsys.readouterr().out
    texts = ["i loved the film .", "what a awful cake !"]
    ours = AutoModel.from_pretrained(run / "model").encode(texts)
    theirs = torch.as_tensor(st.SentenceTransformer(str(tmp_path / "st"), device="cpu").encode(texts))
    assert torch.nn.functional.cosine_similarity(ours, theirs, dim=-1).min() >= 0.9999
