"""The robustness curve: seeded corruptions, a perfect encoder's curve, the table, and textae eval
printing the curve for an embedding run whose eval pairs carry a score."""

import json
import random

import pytest
import torch
import yaml

from tests.conftest import TINY_DECODER, TINY_ENCODER
from textae.data.synthetic import synthetic_dataset
from textae.metrics.robustness import NOISE_FAMILIES, corrupt, curve_table, robustness_curve


def _bag_of_chars(texts):
    """An encoder that sees character counts: a corruption that changes no letter leaves it in place."""
    out = torch.zeros(len(texts), 128)
    for i, text in enumerate(texts):
        for ch in text.lower():
            if ch.isalpha() and ord(ch) < 128:
                out[i, ord(ch)] += 1
    return out


def test_corruptions_are_seeded_by_index_and_rate_and_the_mix_draws_known_families():
    texts = ["the cat sat on the mat", "a dog ran in the park"] * 5
    assert corrupt(texts, "en", "typos", 0.3, salt=1) == corrupt(texts, "en", "typos", 0.3, salt=1)
    assert corrupt(texts, "en", "typos", 0.3, salt=1) != corrupt(texts, "en", "typos", 0.3, salt=2)
    assert corrupt(texts, "en", "deletion", 0.0, salt=1) == texts
    assert len(corrupt(texts, "en", "mix", 0.2, salt=1)) == len(texts)
    with pytest.raises(ValueError, match="unknown noise family 'smudge'"):
        corrupt(texts, "en", "smudge", 0.1, salt=1)
    with pytest.raises(ValueError, match="no noise families for language 'fr'"):
        corrupt(texts, "fr", "mix", 0.1, salt=1)


def test_an_encoder_blind_to_inserted_punctuation_keeps_its_clean_score_there_and_loses_it_to_deletion():
    rng = random.Random(0)
    sentences = synthetic_dataset(60, seed=0)["text"]
    s1, s2 = sentences[:30], sentences[30:]
    gold = [rng.random() for _ in s1]
    curve = robustness_curve(_bag_of_chars, s1, s2, gold, "en", rates=(0.1, 0.3))
    assert curve["noisy"]["punctuation@0.3"] == pytest.approx(curve["clean"])  # letters untouched
    assert curve["stability"]["punctuation@0.3"] == pytest.approx(1.0)
    assert curve["stability"]["deletion@0.3"] < curve["stability"]["deletion@0.1"] < 1.0
    assert set(curve["noisy"]) == {f"{f}@{r}" for f in [*NOISE_FAMILIES["en"], "mix"] for r in (0.1, 0.3)}
    table = curve_table(curve, "en", (0.1, 0.3))
    assert table.splitlines()[0] == "| noise | 0.1 | 0.3 |" and len(table.splitlines()) == 2 + 1 + len(NOISE_FAMILIES["en"]) + 1


def test_textae_eval_prints_the_curve_of_an_embedding_run_on_scored_pairs(tmp_path, capsys):
    from textae.cli import main

    rng = random.Random(1)
    sentences = synthetic_dataset(200, seed=2)["text"]
    lines = ["score\tsentence1\tsentence2"] + [f"{rng.uniform(0, 5):.2f}\t{a}\t{b}" for a, b in zip(sentences[::2], sentences[1::2])]
    (tmp_path / "pairs.tsv").write_text("\n".join(lines) + "\n")
    recipe = {
        "model": {"family": "dae", "latent_dim": 16, "memory_slots": 2, "encoder_config": TINY_ENCODER, "decoder_config": TINY_DECODER},
        "data": {"source": "files", "train_files": [str(tmp_path / "pairs.tsv")], "eval_files": [str(tmp_path / "pairs.tsv")], "text_column": ["sentence1", "sentence2"], "max_seq_length": 24},
        "train": {"max_steps": 2, "batch_size": 16, "warmup_steps": 1, "eval_every": 0, "save_every": 0, "log_every": 1, "output_dir": str(tmp_path / "run")},
    }
    path = tmp_path / "dae.yaml"
    path.write_text("# textae train dae.yaml\n" + yaml.safe_dump(recipe))
    assert main(["train", str(path)]) == 0
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "run"), "--reconstruct", "4", "--noise-rates", "0.1", "0.3"]) == 0
    out = capsys.readouterr()
    robustness = json.loads((tmp_path / "run" / "eval.json").read_text())["robustness"]
    assert robustness["pairs"] == 100 and set(robustness["noisy"]) == {f"{f}@{r}" for f in [*NOISE_FAMILIES["en"], "mix"] for r in (0.1, 0.3)}
    assert "STS Spearman x100 on 100 eval pairs" in out.err and "| typos |" in out.err
    assert json.loads(out.out)["robustness"]["clean"] == robustness["clean"]  # stdout stays one JSON document
    assert robustness["stability"]["punctuation@0.3"] < 0.999

    pytest.importorskip("symspellpy", reason="the [dev] extra installs symspellpy")
    assert main(["eval", str(tmp_path / "run"), "--reconstruct", "4", "--noise-rates", "0.3", "--correct-spelling"]) == 0
    out = capsys.readouterr()
    corrected = json.loads((tmp_path / "run" / "eval.json").read_text())["robustness"]
    assert corrected["correct_spelling"] and "behind the spell-corrector" in out.err
    # the corrector drops punctuation, so inserted punctuation is undone before the encoder reads the text
    assert corrected["stability"]["punctuation@0.3"] == pytest.approx(1.0, abs=1e-5)
