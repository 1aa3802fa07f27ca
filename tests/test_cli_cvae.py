"""``textae train / eval / generate --label`` end to end on a tiny CVAE run."""

import functools
import json

import pytest
import yaml

from tests.conftest import TINY_DECODER, TINY_ENCODER
from textae.cli import _load_model, main


@pytest.fixture(scope="module")
def cvae_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_cvae")
    recipe = {
        "model": {"family": "cvae", "latent_dim": 8, "label_embedding_dim": 4, "memory_slots": 2, "encoder_config": TINY_ENCODER, "decoder_config": TINY_DECODER},
        "data": {"source": "synthetic", "synthetic_train_size": 128, "synthetic_eval_size": 16, "label_column": "sentiment", "max_seq_length": 24},
        "train": {"max_steps": 4, "batch_size": 16, "warmup_steps": 1, "eval_every": 0, "save_every": 0, "log_every": 2, "iw_samples": 2},
    }
    path = root / "tiny.yaml"
    path.write_text("# textae train tiny.yaml\n" + yaml.safe_dump(recipe))
    run = root / "run"
    assert main(["train", str(path), f"train.output_dir={run}"]) == 0
    return root, run


def test_training_saves_the_label_names_and_reports_the_probe(cvae_run):
    _, run = cvae_run
    config = json.loads((run / "model" / "config.json").read_text())
    assert config["id2label"] == {"0": "negative", "1": "positive"} and config["label2id"] == {"negative": 0, "positive": 1}
    metrics = json.loads((run / "metrics.json").read_text())
    assert "loss_label" in metrics["eval"] and "iw_nll_per_sentence" in metrics["vae"]


def test_generate_with_a_label(cvae_run, capsys):
    _, run = cvae_run
    assert main(["generate", str(run), "--label", "positive", "-n", "3"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3


def test_generate_with_an_unknown_label_lists_the_known_ones(cvae_run, capsys):
    _, run = cvae_run
    assert main(["generate", str(run), "--label", "happy", "-n", "2"]) == 2
    assert "unknown label 'happy'; known labels: ['negative', 'positive']" in capsys.readouterr().err


def test_generate_with_input_and_label_transfers(cvae_run, capsys):
    root, run = cvae_run
    lines = root / "in.txt"
    lines.write_text("i hated the pizza .\nthe hotel was awful .\n")
    assert main(["generate", str(run), "--input", str(lines), "--label", "positive"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert [line.split("\t")[0] for line in out] == ["i hated the pizza .", "the hotel was awful ."]


def test_eval_reads_the_label_column(cvae_run, capsys):
    _, run = cvae_run
    assert main(["eval", str(run), "--reconstruct", "4", "--iw-samples", "2"]) == 0
    metrics = json.loads((run / "eval.json").read_text())
    assert metrics["eval"]["sentences"] == 16 and len(metrics["samples"]) == 5


def test_label_on_an_unconditioned_run_is_refused(tmp_path):
    from tests.conftest import tiny_model
    from textae.data import synthetic_dataset, train_tokenizer

    model = tiny_model("ae", train_tokenizer(synthetic_dataset(50)["text"], "wordlevel"))
    model.save_pretrained(tmp_path)
    with pytest.raises(SystemExit, match="not conditioned on labels"):
        main(["generate", str(tmp_path), "--label", "positive"])


def test_fit_label_latents_writes_them_into_the_saved_config_and_generate_uses_them(cvae_run, capsys):
    root, run = cvae_run
    before = json.loads((run / "model" / "config.json").read_text())
    assert before.get("label_latents") is None
    assert main(["fit-label-latents", str(run)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in out] == ["negative", "positive"] and all("texts" in line for line in out)
    after = json.loads((run / "model" / "config.json").read_text())
    assert len(after["label_latents"]["mean"]) == 2 and len(after["label_latents"]["std"][0]) == 8
    assert {k: v for k, v in after.items() if k != "label_latents"} == {k: v for k, v in before.items() if k != "label_latents"}
    assert main(["generate", str(run), "--label", "positive", "-n", "2"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2
    lines = root / "in2.txt"
    lines.write_text("the hotel was awful .\n")
    assert main(["generate", str(run), "--input", str(lines), "--label", "positive"]) == 0
    capsys.readouterr()


def test_fit_label_latents_refuses_a_model_without_labels(tmp_path, tokenizer):
    from tests.conftest import tiny_model

    tiny_model("vae", tokenizer).save_pretrained(tmp_path / "model")
    with pytest.raises(SystemExit, match="TextVAE is not conditioned on labels; fit-label-latents needs a CVAE run"):
        main(["fit-label-latents", str(tmp_path)])


def test_generate_passes_nucleus_sampling_and_label_guidance_on(cvae_run, capsys, monkeypatch):
    from textae.models.cvae import TextCVAE

    _, run = cvae_run
    seen = []
    real = TextCVAE.sample

    @functools.wraps(real)  # keeps the signature the CLI reads
    def recording(self, n, **kwargs):
        seen.append(kwargs)
        return real(self, n, **kwargs)

    monkeypatch.setattr(TextCVAE, "sample", recording)
    assert main(["generate", str(run), "--label", "positive", "-n", "3", "--top-p", "0.9", "--guidance", "2"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3
    assert seen[-1]["greedy"] is False and seen[-1]["top_p"] == 0.9 and seen[-1]["guidance"] == 2.0
    assert main(["generate", str(run), "--label", "positive", "-n", "2"]) == 0
    assert "greedy" not in seen[-1] and "guidance" not in seen[-1]  # the defaults: greedy decoding of each z, no guidance
    with pytest.raises(SystemExit, match="--guidance steers decoding toward a label; pass --label too"):
        main(["generate", str(run), "--guidance", "2"])


def test_generate_edit_transfers_by_swapping_words(cvae_run, capsys):
    root, run = cvae_run
    lines = root / "edit.txt"
    lines.write_text("i hated the pizza .\nthe hotel was awful .\n")
    assert main(["generate", str(run), "--input", str(lines), "--label", "positive", "--edit"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert [line.split("\t")[0] for line in out] == ["i hated the pizza .", "the hotel was awful ."]
    assert all(len(line.split("\t")) == 2 for line in out)
    for partial in (["--input", str(lines)], ["--label", "positive"]):
        with pytest.raises(SystemExit, match="--edit swaps the words of --input lines toward a label; pass --input FILE and --label NAME"):
            main(["generate", str(run), *partial, "--edit"])


def test_generate_edit_passes_its_threshold_and_lookahead_on(cvae_run, capsys, monkeypatch):
    from textae.models.cvae import TextCVAE

    root, run = cvae_run
    lines = root / "edit_settings.txt"
    lines.write_text("i hated the pizza .\n")
    seen = {}
    real = TextCVAE.edit

    def spy(self, texts, **kwargs):
        seen.update(kwargs)
        return real(self, texts, **kwargs)

    monkeypatch.setattr(TextCVAE, "edit", spy)
    assert main(["generate", str(run), "--input", str(lines), "--label", "positive", "--edit", "--edit-threshold", "1e9", "--lookahead", "3", "--edit-share", "0.5"]) == 0
    assert seen == {"to_label": "positive", "threshold": 1e9, "lookahead": 3, "max_share": 0.5}  # the rest: TextCVAE.edit's defaults
    source, output = capsys.readouterr().out.strip().split("\t")
    model = _load_model(str(run))
    assert output == model.output_tokenizer.decode(model._tokenize_output([source])[0], skip_special_tokens=True)  # nothing clears 1e9 nats: a copy
    for flags in (["--edit-threshold", "0.5"], ["--lookahead", "3"], ["--edit-share", "0.3"]):
        with pytest.raises(SystemExit, match="--edit-threshold, --edit-share and --lookahead set how --edit swaps words; pass --edit too"):
            main(["generate", str(run), "--input", str(lines), "--label", "positive", *flags])
