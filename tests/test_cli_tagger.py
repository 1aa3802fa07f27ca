"""``textae tag`` on a tiny tagger run trained through the CLI: one output line per input line, each
token as ``token/class``; stdin with ``--input -``; bad input named."""

import io
import json

import pytest
import yaml

from tests.conftest import TINY_ENCODER
from textae.cli import main
from textae.noise.labels import TAG_NAMES


@pytest.fixture(scope="module")
def tagger_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_tagger")
    recipe = {
        "model": {"family": "tagger", "encoder_config": TINY_ENCODER, "tag_noise": [{"name": "replace_words", "rate": 0.2}, {"name": "insert_punctuation", "rate": [0.1, 0.2], "p": 0.5}, {"name": "homoglyphs", "rate": 0.1}]},
        "data": {"source": "synthetic", "synthetic_train_size": 64, "synthetic_eval_size": 16, "tokenizer": "wordpiece", "vocab_size": 300, "max_seq_length": 24},
        "train": {"max_steps": 3, "batch_size": 16, "warmup_steps": 1, "eval_every": 0, "save_every": 0, "log_every": 1},
    }
    path = root / "tiny.yaml"
    path.write_text("# textae train tiny.yaml\n" + yaml.safe_dump(recipe))
    run = root / "run"
    assert main(["train", str(path), f"train.output_dir={run}"]) == 0
    return root, run


def test_training_reports_per_class_scores(tagger_run):
    _, run = tagger_run
    report = json.loads((run / "metrics.json").read_text())["tagging"]
    assert set(TAG_NAMES) <= set(report) and 0.0 <= report["macro_f1"] <= 1.0 and report["tokens"] > 0


def test_eval_reports_the_same_scores_at_each_run(tagger_run, capsys):
    _, run = tagger_run
    assert main(["eval", str(run)]) == 0
    first = json.loads((run / "eval.json").read_text())["tagging"]
    assert main(["eval", str(run)]) == 0
    assert json.loads((run / "eval.json").read_text())["tagging"] == first
    assert set(TAG_NAMES) <= set(first) and first["tokens"] > 0
    # the run's final evaluation (through accelerate's loader, read twice) saw the same corruption
    assert first == json.loads((run / "metrics.json").read_text())["tagging"]


def test_tag_prints_each_line_as_tokens_with_their_class(tagger_run, capsys):
    root, run = tagger_run
    lines = root / "in.txt"
    lines.write_text("i loved the pizza .\n\nthe hotel was lovely .\n")
    capsys.readouterr()
    assert main(["tag", str(run), "--input", str(lines)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2
    for line, text in zip(out, ["i loved the pizza .", "the hotel was lovely ."]):
        pairs = [item.rsplit("/", 1) for item in line.split(" ")]
        assert all(cls in TAG_NAMES for _, cls in pairs)
        assert "".join(token for token, _ in pairs) == text.replace(" ", "")


def test_tag_reads_stdin(tagger_run, capsys, monkeypatch):
    _, run = tagger_run
    monkeypatch.setattr("sys.stdin", io.StringIO("the hotel was lovely .\n"))
    capsys.readouterr()
    assert main(["tag", str(run), "--input", "-"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1


def test_bad_input_is_named(tagger_run, tmp_path):
    root, run = tagger_run
    with pytest.raises(SystemExit, match="input file not found"):
        main(["tag", str(run), "--input", str(tmp_path / "none.txt")])
    with pytest.raises(SystemExit, match="no saved model"):
        main(["tag", str(tmp_path), "--input", "-"])


def test_a_run_that_is_not_a_tagger_is_refused(tmp_path, tokenizer):
    from tests.conftest import tiny_model

    model = tiny_model("mlm", tokenizer)
    model.save_pretrained(tmp_path / "model")
    with pytest.raises(SystemExit, match="holds a TextMLM, not a noise tagger"):
        main(["tag", str(tmp_path), "--input", "-"])
