"""A wider battery of bad input, one case per test id, each with one defined outcome: accepted as a
user would expect (a single string, a generator, a glob, a .gz file, quoted CSV fields), or refused
with a message that names the problem. The README's bad-input table has a row for each group.
Run folders that are files or not writable: tests/training/test_run_folder.py.
"""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
import torch

from tests.conftest import tiny_model
from tests.reliability.test_bad_input import GOOD, recipe_for
from textae.cli import main
from textae.data import load_raw_split
from textae.training import train
from textae.training.build import prepare_data
from textae.training.recipe import RecipeError


# ---- recipe values out of range ----------------------------------------------------------------
@pytest.mark.parametrize(
    "override, message",
    [
        ("train.max_steps=0", r"train.max_steps must be ≥ 1, got 0"),
        ("train.max_steps=-5", r"train.max_steps must be ≥ 1, got -5"),
        ("train.batch_size=0", r"train.batch_size must be ≥ 1, got 0"),
        ("train.eval_batch_size=-8", r"train.eval_batch_size must be ≥ 1, got -8"),
        ("train.learning_rate=fast", r"train.learning_rate must be float, got 'fast' \(str\)"),
        ("train.learning_rate=nan", r"train.learning_rate must be a finite number > 0.0, got nan"),
        ("train.learning_rate=.inf", r"train.learning_rate must be a finite number > 0.0, got inf"),
        ("train.learning_rate=0", r"train.learning_rate must be > 0.0, got 0.0"),
        ("train.warmup_steps=-1", r"train.warmup_steps must be ≥ 0, got -1"),
        ("train.weight_decay=-0.1", r"train.weight_decay must be ≥ 0.0, got -0.1"),
        ("train.adam_beta2=1.0", r"train.adam_beta2 must be in \[0.0, 1.0\), got 1.0"),
        ("train.gradient_accumulation_steps=0", r"train.gradient_accumulation_steps must be ≥ 1, got 0"),
        ("train.log_every=0", r"train.log_every must be ≥ 1, got 0"),
        ("train.eval_every=-1", r"train.eval_every must be ≥ 0, got -1"),
        ("train.keep_checkpoints=-2", r"train.keep_checkpoints must be ≥ 0, got -2"),
        ("train.max_grad_norm=-1", r"train.max_grad_norm must be ≥ 0.0, got -1.0"),
        ("data.max_seq_length=0", r"data.max_seq_length must be ≥ 1, got 0"),
        ("model.word_dropout=1.5", r"model.word_dropout is a probability and must be in \[0, 1\], got 1.5"),
    ],
    ids=[
        "max_steps_zero", "max_steps_negative", "batch_size_zero", "eval_batch_size_negative", "learning_rate_string",
        "learning_rate_nan", "learning_rate_inf", "learning_rate_zero", "warmup_negative", "weight_decay_negative",
        "adam_beta2_one", "accumulation_zero", "log_every_zero", "eval_every_negative", "keep_checkpoints_negative",
        "max_grad_norm_negative", "max_seq_length_zero", "word_dropout_above_one",
    ],
)
def test_a_recipe_value_out_of_range_is_named_with_its_range(tmp_path, override, message):
    with pytest.raises(RecipeError, match=message):
        recipe_for(tmp_path, None, None, override)


def test_eval_and_save_every_past_max_steps_evaluate_and_save_once_at_the_end(tmp_path):
    result = train(recipe_for(tmp_path, None, None, "train.max_steps=3", "train.eval_every=500", "train.save_every=500"))
    lines = [json.loads(x) for x in (tmp_path / "run" / "logs" / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines if "eval/loss" in x] == [3]
    assert [p.name for p in (tmp_path / "run" / "checkpoints").iterdir()] == ["step_00000003"]
    assert result.metrics["throughput"]["steps"] == 3


# ---- recipe files that are not recipes -----------------------------------------------------------
@pytest.mark.parametrize(
    "content, message",
    [
        ("- model\n- train\n", "must be a mapping with model / data / train sections"),
        ("", "is empty; a recipe needs model / data / train sections"),
        ("# only a comment\n", "is empty; a recipe needs model / data / train sections"),
        ("model: {family: ae}\ntrain: 5\n", "train must be a mapping, got int"),
    ],
    ids=["a_list", "empty", "only_comments", "section_not_a_mapping"],
)
def test_a_recipe_file_that_is_not_a_recipe_is_named(tmp_path, capsys, content, message):
    path = tmp_path / "recipe.yaml"
    path.write_text(content)
    assert main(["train", str(path)]) == 2
    assert message in capsys.readouterr().err


# ---- data files that are not what their name says -------------------------------------------------
def _load(path, **kwargs):
    return load_raw_split("files", "train", [str(path)], **kwargs)


def test_quoted_csv_fields_with_commas_and_newlines_are_one_text_each(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text('text,label\n"hello, world",a\n"two\nlines, here",b\nplain,c\n')
    ds = _load(path)
    assert ds["text"] == ["hello, world", "two\nlines, here", "plain"] and ds["label"] == ["a", "b", "c"]


@pytest.mark.parametrize("row, fields", [("c d\tneg\textra", 3), ("e f", 1)], ids=["more_fields", "fewer_fields"])
def test_a_ragged_tsv_row_is_named_with_its_line(tmp_path, row, fields):
    path = tmp_path / "train.tsv"
    path.write_text(f"text\tlabel\na b\tpos\n{row}\n")
    with pytest.raises(ValueError, match=f"train.tsv line 3 has {fields} tab-separated fields, the header has 2"):
        _load(path)


def test_a_json_list_of_numbers_is_not_records(tmp_path):
    path = tmp_path / "train.json"
    path.write_text("[1, 2, 3]\n")
    with pytest.raises(ValueError, match="train.json is JSON but not records: a list of numbers"):
        _load(path)


def test_a_json_file_of_plain_text_is_named(tmp_path):
    path = tmp_path / "train.json"
    path.write_text("i loved the pizza .\nthe hotel was nice .\n")
    with pytest.raises(ValueError, match=r"train.json is not JSON records: it starts with 'i loved the pizza .'"):
        _load(path)


def test_a_jsonl_line_that_is_not_json_is_named(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text('{"text": "a b"}\nnot json\n')
    with pytest.raises(ValueError, match=r"could not read the data files \[.*train.jsonl'\]: JSON parse error: Invalid value. in row 1"):
        _load(path)


def test_a_json_list_of_strings_is_one_text_each(tmp_path):
    path = tmp_path / "train.json"
    path.write_text('["i loved the pizza .", "the hotel was nice ."]\n')
    assert _load(path)["text"] == ["i loved the pizza .", "the hotel was nice ."]


def test_a_text_column_of_numbers_is_refused(tmp_path):
    recipe = recipe_for(tmp_path, ["text", "1", "2", "3"], ["text", "4"], suffix=".csv")
    with pytest.raises(ValueError, match="column 'text' holds int64 values, not text; set data.text_column"):
        prepare_data(recipe)


def test_a_directory_as_a_data_file_is_named(tmp_path):
    (tmp_path / "corpus").mkdir()
    with pytest.raises(ValueError, match=r"data file .*corpus is a directory; name its files, or a glob such as .*corpus/\*.txt"):
        _load(tmp_path / "corpus")


def test_a_glob_reads_every_matching_file_in_sorted_order(tmp_path):
    (tmp_path / "b.txt").write_text("second file .\n")
    (tmp_path / "a.txt").write_text("first file .\n")
    (tmp_path / "notes.md").write_text("not data\n")
    assert _load(tmp_path / "*.txt")["text"] == ["first file .", "second file ."]


def test_a_glob_that_matches_nothing_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no data file matches the pattern .*\*.txt"):
        _load(tmp_path / "*.txt")


def test_a_gzip_compressed_text_file_trains(tmp_path):
    for split in ("train", "eval"):
        with gzip.open(tmp_path / f"{split}.txt.gz", "wt", encoding="utf-8") as f:
            f.write("".join(x + "\n" for x in GOOD))
    recipe = recipe_for(tmp_path, None, None, f"data.train_files=[{tmp_path / 'train.txt.gz'}]", f"data.eval_files=[{tmp_path / 'eval.txt.gz'}]")
    result = train(recipe)
    assert result.metrics["eval"]["sentences"] == len(GOOD)


def test_bytes_that_are_not_utf8_inside_a_gzip_file_are_named(tmp_path):
    path = tmp_path / "train.txt.gz"
    with gzip.open(path, "wb") as f:
        f.write(b"fine line\ncaf\xe9 au lait\n")
    with pytest.raises(ValueError, match=r"train.txt.gz line 2 is not valid UTF-8"):
        _load(path)


def test_a_parquet_file_that_is_not_parquet_is_named(tmp_path):
    path = tmp_path / "train.parquet"
    path.write_text("i am plain text\n")
    with pytest.raises(ValueError, match="train.parquet is not a Parquet file"):
        _load(path)


# ---- API inputs of the wrong kind ------------------------------------------------------------------
@pytest.fixture(scope="module")
def ae(tokenizer):
    return tiny_model("ae", tokenizer).eval()


@pytest.fixture(scope="module")
def vae(tokenizer):
    return tiny_model("vae", tokenizer).eval()


@pytest.fixture(scope="module")
def lm(tokenizer):
    return tiny_model("lm", tokenizer).eval()


TEXTS = ["i loved the pizza .", "the hotel was lovely ."]


def test_encode_of_a_single_string_is_one_text(ae):
    assert torch.equal(ae.encode(TEXTS[0]), ae.encode([TEXTS[0]])) and ae.encode(TEXTS[0]).shape == (1, 16)


def test_reconstruct_of_a_single_string_is_one_text(ae):
    assert ae.reconstruct(TEXTS[0], max_new_tokens=6) == ae.reconstruct([TEXTS[0]], max_new_tokens=6)
    assert len(ae.reconstruct(TEXTS[0], max_new_tokens=6)) == 1  # not one output per character


def test_encode_of_a_generator_equals_encode_of_the_list(ae):
    assert torch.equal(ae.encode(t for t in TEXTS), ae.encode(TEXTS))


def test_encode_of_a_numpy_array_of_strings_equals_the_list(ae):
    assert torch.equal(ae.encode(np.array(TEXTS)), ae.encode(TEXTS))


def test_encode_of_a_numpy_array_of_numbers_is_refused(ae):
    with pytest.raises(TypeError, match="texts must be strings; got a numpy array of int64"):
        ae.encode(np.arange(3))


def test_encode_of_numbers_in_a_list_names_the_item(ae):
    with pytest.raises(TypeError, match=r"texts must be strings; item 1 is int \(7\)"):
        ae.encode([TEXTS[0], 7])


def test_encode_of_a_number_is_refused(ae):
    with pytest.raises(TypeError, match="texts must be a string or an iterable of strings, got float"):
        ae.encode(3.5)


def test_lm_score_of_a_single_string_is_one_score(lm):
    assert lm.score(TEXTS[0]).shape == (1,) and torch.equal(lm.score(TEXTS[0]), lm.score([TEXTS[0]]))


@pytest.mark.parametrize("n", [0, -2], ids=["n_zero", "n_negative"])
def test_sample_of_n_below_one_is_refused(vae, n):
    with pytest.raises(ValueError, match=f"n must be ≥ 1, got {n}"):
        vae.sample(n)


def test_sample_of_a_float_n_is_refused(lm):
    with pytest.raises(TypeError, match=r"n must be an integer, got float \(2.5\)"):
        lm.sample(2.5)


@pytest.mark.parametrize("temperature", [0, -1.0], ids=["temperature_zero", "temperature_negative"])
def test_sample_at_a_temperature_not_above_zero_is_refused(lm, vae, temperature):
    for model in (lm, vae):
        with pytest.raises(ValueError, match=f"temperature must be a finite number > 0, got {temperature}"):
            model.sample(2, temperature=temperature)


def test_sample_with_top_p_out_of_range_is_refused(lm):
    with pytest.raises(ValueError, match=r"top_p must be in \(0, 1\], got 0"):
        lm.sample(2, top_p=0)


def test_decode_of_a_latent_of_the_wrong_size_names_both_sizes(ae):
    with pytest.raises(ValueError, match=r"latent must have shape \[N, 16\] for this model \(latent_dim 16\), got \[2, 8\]"):
        ae.decode(torch.zeros(2, 8))


def test_decode_of_one_latent_vector_is_one_text(ae):
    z = ae.encode([TEXTS[0]])
    assert ae.decode(z[0], max_new_tokens=6) == ae.decode(z, max_new_tokens=6) and len(ae.decode(z[0], max_new_tokens=6)) == 1
