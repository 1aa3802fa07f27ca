"""Bad input, one case per test id, each with its exact outcome (an error that names what is wrong,
or a defined result with a warning that counts what was changed).

| input | outcome |
| --- | --- |
| empty / whitespace-only / None texts in training data | dropped; warning "skipped N of M texts in column 'c'" |
| a text column that does not exist | KeyError naming the columns that do |
| non-UTF-8 bytes in a local data file | ValueError "FILE line L is not valid UTF-8 (byte B: ...)" |
| texts past max length | truncated to max length; warning with the count |
| a label not among the training labels (CVAE) | ValueError listing the known labels |
| recipe: unknown key / wrong type / missing file | RecipeError / FileNotFoundError naming it |
| model folder: weights missing / corrupt | FileNotFoundError / ValueError naming the folder and file |
| a tokenizer that is not the model's | ValueError giving both sizes or both special ids |
| batch size larger than the data set | trains; one batch holding every sentence per epoch |
| an empty training or evaluation set | ValueError before the first step |
| ``encode`` of a text with no token | the zero vector; warning with the count |
| CJK, emoji, RTL and zero-width text | noise, encode, generate and ``textae encode`` handle them (see below) |
"""

from __future__ import annotations

import json
import logging
import os

import datasets
import pytest
import torch
import yaml
from transformers import AutoModel

from tests.conftest import TINY_DECODER, TINY_ENCODER, tiny_model
from textae.cli import main
from textae.data import tokenize_dataset, train_tokenizer
from textae.data.loading import check_utf8
from textae.data.tokenization import fold_confusables
from textae.noise import TEXT_NOISES
from textae.training import load_recipe, train
from textae.training.build import make_collator, prepare_data, train_loader
from textae.training.build import build_model
from textae.training.recipe import RecipeError

GOOD = [f"i loved the pizza number {i} ." for i in range(12)]


def recipe_for(tmp_path, train_lines=None, eval_lines=None, *overrides, suffix=".txt", family="ae", raw=None):
    """A tiny recipe over local files written from ``train_lines`` / ``eval_lines`` (str lines, or bytes)."""
    files = {}
    for split, lines in (("train", train_lines), ("eval", eval_lines)):
        lines = GOOD if lines is None else lines
        path = tmp_path / f"{split}{suffix}"
        path.write_bytes(lines if isinstance(lines, bytes) else "".join(x + "\n" for x in lines).encode("utf-8"))
        files[split] = str(path)
    base = {
        "model": {"family": family, "latent_dim": 16, "memory_slots": 2, "encoder_config": TINY_ENCODER, "decoder_config": TINY_DECODER},
        "data": {"source": "files", "train_files": [files["train"]], "eval_files": [files["eval"]], "max_seq_length": 16},
        "train": {"max_steps": 2, "batch_size": 4, "eval_batch_size": 8, "warmup_steps": 1, "eval_every": 0, "save_every": 0, "log_every": 1,
                  "show_reconstructions": 0, "output_dir": str(tmp_path / "run")},
    }
    for section, values in (raw or {}).items():
        base[section].update(values)
    return load_recipe(None, list(overrides), base=base)


def warnings_of(caplog) -> str:
    return "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING)


# ---- training data ---------------------------------------------------------------------------------
def test_empty_and_whitespace_texts_are_skipped_with_a_count_and_training_runs(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    result = train(recipe_for(tmp_path, [*GOOD[:6], "", "   ", "\t", *GOOD[6:]]))
    assert "skipped 3 of 15 texts in column 'text': empty, whitespace-only or missing (None)" in warnings_of(caplog)
    assert result.metrics["throughput"]["steps"] == 2
    assert result.metrics["eval"]["sentences"] == 12


def test_none_in_the_text_column_is_skipped_with_a_count(tokenizer, caplog):
    caplog.set_level(logging.WARNING)
    ds = datasets.Dataset.from_dict({"text": ["i loved the pizza .", None, "the hotel was lovely .", None]})
    out = tokenize_dataset(ds, tokenizer, "text", 16)
    assert out["length"] == [5, 5]
    assert "skipped 2 of 4 texts in column 'text'" in warnings_of(caplog)


def test_a_jsonl_file_with_null_texts_trains_on_the_others(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    rows = [json.dumps({"text": t}) for t in [GOOD[0], None, GOOD[1], None, GOOD[2]]]
    tokenizer, train_ds, *_ = prepare_data(recipe_for(tmp_path, rows, [json.dumps({"text": t}) for t in GOOD], suffix=".jsonl"))
    assert [tokenizer.decode(x) for x in train_ds["input_ids"]] == GOOD[:3]
    assert "skipped 2 of 5 texts" in warnings_of(caplog)


def test_a_text_column_that_does_not_exist_names_the_columns_that_do(tmp_path):
    lines = ["sentence,label", *[f"{t},1" for t in GOOD]]
    with pytest.raises(KeyError, match=r"column 'text' not in the data; columns: \['sentence', 'label'\]"):
        prepare_data(recipe_for(tmp_path, lines, lines, suffix=".csv"))


def test_a_label_column_that_does_not_exist_names_the_columns_that_do(tokenizer):
    ds = datasets.Dataset.from_dict({"text": ["a b ."], "sentiment": ["positive"]})
    with pytest.raises(KeyError, match=r"column 'label' not in the data; columns: \['text', 'sentiment'\]"):
        tokenize_dataset(ds, tokenizer, "text", 16, label_column="label")


NOT_UTF8 = b"ok line one\nok line two\ncaf\xe9 au lait\nlast line\n"


@pytest.mark.parametrize("suffix", [".txt", ".csv", ".tsv", ".jsonl"])
def test_non_utf8_bytes_in_a_data_file_name_the_file_and_the_line(tmp_path, suffix):
    data = NOT_UTF8 if suffix != ".jsonl" else b"".join(b'{"text": "' + line + b'"}\n' for line in NOT_UTF8.splitlines())
    if suffix in (".csv", ".tsv"):
        data = b"text\n" + NOT_UTF8
    line = 4 if suffix in (".csv", ".tsv") else 3
    with pytest.raises(ValueError, match=rf"train{suffix} line {line} is not valid UTF-8 \(byte \d+: invalid continuation byte\)"):
        prepare_data(recipe_for(tmp_path, data, suffix=suffix))


def test_non_utf8_detection_is_exact_across_read_chunks(tmp_path):
    path = tmp_path / "chunks.txt"
    # multi-byte characters cut by the 3-byte reads, then a bad byte on line 4
    path.write_bytes("日本語\n😀 عربى\nעברית\n".encode() + b"ab\xff\n")
    for chunk_bytes in (3, 1 << 20):  # byte 37: 10 + 14 + 11 bytes of lines 1-3, then "ab"
        with pytest.raises(ValueError, match=r"chunks.txt line 4 is not valid UTF-8 \(byte 37: invalid start byte\)"):
            check_utf8(path, chunk_bytes=chunk_bytes)
    path.write_bytes("日本語\n😀 عربى\nעברית\n".encode())
    check_utf8(path, chunk_bytes=3)  # valid text split anywhere passes


def test_a_file_truncated_inside_a_character_is_named(tmp_path):
    path = tmp_path / "cut.txt"
    path.write_bytes("fine\n日本".encode()[:-1])  # the last character lacks its final byte
    with pytest.raises(ValueError, match=r"cut.txt line 2 is not valid UTF-8 \(byte 8: unexpected end of data\)"):
        check_utf8(path)


def test_texts_past_max_length_are_truncated_with_a_count(tokenizer, caplog):
    caplog.set_level(logging.WARNING)
    long = " ".join(["the"] * 5000)
    ds = datasets.Dataset.from_dict({"text": [long, "i loved the pizza .", " ".join(["the"] * 8)]})
    out = tokenize_dataset(ds, tokenizer, "text", 8)
    assert out["length"] == [8, 5, 8]
    # the text of exactly 8 tokens is not counted
    assert "1 of 3 texts in column 'text' were longer than 8 tokens and were truncated to it" in warnings_of(caplog)


def test_a_label_not_in_the_training_set_lists_the_known_labels(tokenizer):
    ds = datasets.Dataset.from_dict({"text": ["a b .", "c d ."], "sentiment": ["positive", "neutral"]})
    with pytest.raises(ValueError, match=r"labels \['neutral'\] are not among the known labels \['negative', 'positive'\]"):
        tokenize_dataset(ds, tokenizer, "text", 16, label_column="sentiment", label2id={"negative": 0, "positive": 1})


@pytest.mark.parametrize("call", ["sample", "transfer", "decode"])
def test_a_cvae_asked_for_an_unknown_label_lists_the_known_ones(tokenizer, call):
    model = tiny_model("cvae", tokenizer, id2label={0: "negative", 1: "positive"}, label2id={"negative": 0, "positive": 1}).eval()
    with pytest.raises(ValueError, match=r"unknown label 'neutral'; known labels: \['negative', 'positive'\]"):
        if call == "sample":
            model.sample(2, label="neutral")
        elif call == "transfer":
            model.transfer(["i loved the pizza ."], to_label="neutral", from_label="positive")
        else:
            model.decode(torch.zeros(1, model.config.latent_dim), label="neutral")


def test_batch_size_larger_than_the_dataset_trains_on_one_batch_of_everything(tmp_path):
    recipe = recipe_for(tmp_path, GOOD[:3], None, "train.batch_size=64", "train.max_steps=3")
    tokenizer, train_ds, *_ = prepare_data(recipe)
    loader, sampler = train_loader(train_ds, make_collator(build_model(recipe, tokenizer), recipe), recipe)
    assert len(sampler) == 1 and [b["labels"].shape[0] for b in loader] == [3]
    assert train(recipe).metrics["throughput"]["steps"] == 3


@pytest.mark.parametrize("content", ["blank_lines", "zero_bytes"])
def test_an_empty_training_set_stops_before_the_first_step(tmp_path, content):
    lines = ["", "  ", "\t"] if content == "blank_lines" else b""
    message = r"the training set is empty \(after dropping empty texts\)" if lines else r"the data files of split 'train' are empty \(0 bytes\): \[.*train.txt'\]"
    with pytest.raises(ValueError, match=message):
        train(recipe_for(tmp_path, lines))
    assert not (tmp_path / "run" / "model").exists()


def test_an_empty_evaluation_set_stops_before_the_first_step(tmp_path):
    with pytest.raises(ValueError, match=r"the evaluation set is empty \(after dropping empty texts\)"):
        train(recipe_for(tmp_path, None, ["", " "]))
    assert not (tmp_path / "run" / "logs" / "metrics.jsonl").exists()


# ---- recipes -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "override, message",
    [
        ("data.txt_column=text", r"unknown key data.txt_column; known keys: \[.*'text_column'"),
        ("train.max_step=3", r"unknown key train.max_step; known keys: \[.*'max_steps'"),
        ("model.latent_dims=8", r"unknown key model.latent_dims for family 'ae'; known keys: \[.*'latent_dim'"),
        ("train.max_steps=many", r"train.max_steps must be int, got 'many' \(str\)"),
        ("train.bf16=[1]", r"train.bf16 must be bool or 'auto', got \[1\] \(list\)"),
        ("model.memory_slots=two", r"model.memory_slots must be int, got 'two' \(str\)"),
        ("model.family=gan", r"model.family: unknown model family 'gan'; known: \['ae', 'cvae', 'dae', 'electra', 'lm', 'mlm', 'tagger', 'vae', 'vq'\]"),
        ("optim.lr=1", r"override 'optim.lr' must start with model., data. or train."),
    ],
    ids=["unknown_data_key", "unknown_train_key", "unknown_model_key", "wrong_type_int", "wrong_type_bool", "wrong_type_model", "unknown_family", "unknown_section"],
)
def test_a_bad_recipe_key_or_type_is_named(tmp_path, override, message):
    with pytest.raises(RecipeError, match=message):
        recipe_for(tmp_path, None, None, override)


def test_a_missing_recipe_file_is_named(tmp_path, capsys):
    assert main(["train", str(tmp_path / "nope.yaml")]) == 2
    assert f"recipe file not found: {tmp_path / 'nope.yaml'}" in capsys.readouterr().err


def test_a_missing_data_file_is_named(tmp_path):
    recipe = recipe_for(tmp_path, None, None, f"data.train_files=[{tmp_path / 'absent.txt'}]")
    with pytest.raises(FileNotFoundError, match=f"data file not found: {tmp_path / 'absent.txt'}"):
        prepare_data(recipe)


def test_a_missing_tokenizer_folder_is_named(tmp_path):
    recipe = recipe_for(tmp_path, None, None, f"data.tokenizer={tmp_path / 'no_tokenizer'}")
    with pytest.raises(FileNotFoundError, match=r"data.tokenizer is neither a kind .* nor an existing folder or model package: .*no_tokenizer"):
        prepare_data(recipe)


# ---- model folders ---------------------------------------------------------------------------------
@pytest.fixture
def saved(tmp_path, tokenizer):
    folder = tmp_path / "model"
    tiny_model("ae", tokenizer).save_pretrained(folder)
    return folder


def test_a_model_folder_without_weights_is_named(saved, capsys):
    os.remove(saved / "model.safetensors")
    with pytest.raises(FileNotFoundError, match=f"no model weights in {saved}: expected {saved / 'model.safetensors'}"):
        AutoModel.from_pretrained(saved)
    assert main(["eval", str(saved)]) == 2
    assert f"no model weights in {saved}" in capsys.readouterr().err


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_a_corrupt_weights_file_is_named(saved, damage):
    path = saved / "model.safetensors"
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:
        path.write_bytes(os.urandom(1000))
    with pytest.raises(ValueError, match=rf"model weights in {saved} are unreadable \(corrupt or truncated {path}\?\)"):
        AutoModel.from_pretrained(saved)


def test_a_tokenizer_larger_than_the_models_vocabulary_is_refused(saved, corpus):
    other = train_tokenizer([*corpus, "zebra yak quokka wombat narwhal"], "wordlevel")
    other.save_pretrained(saved)
    with pytest.raises(ValueError, match=rf"the tokenizer has {len(other)} tokens but the model's vocabulary has {len(other) - 5}; it is not this model's tokenizer"):
        AutoModel.from_pretrained(saved)


def test_a_tokenizer_with_other_special_ids_is_refused(saved, tokenizer):
    config = json.loads((saved / "config.json").read_text())
    config["pad_token_id"], config["bos_token_id"] = config["bos_token_id"], config["pad_token_id"]
    (saved / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"the tokenizer's PAD id is 0 but the model's is 2; it is not this model's tokenizer"):
        AutoModel.from_pretrained(saved)


# ---- encode of degenerate texts ----------------------------------------------------------------
@pytest.mark.parametrize("family", ["ae", "dae", "vae", "cvae", "vq"])
def test_a_text_with_no_token_encodes_to_the_zero_vector(tokenizer, family, caplog):
    caplog.set_level(logging.WARNING)
    model = tiny_model(family, tokenizer).eval()
    z = model.encode(["", "i loved the pizza .", "   \t "])
    assert z.shape == (3, model.config.latent_dim)
    assert torch.equal(z[0], torch.zeros(model.config.latent_dim)) and torch.equal(z[2], z[0])
    torch.testing.assert_close(z[1], model.encode(["i loved the pizza ."])[0], rtol=0, atol=1e-6)
    assert z[1].abs().sum() > 0
    if family != "vq":  # the VQ model pools its codes over no position: zero too, without the count
        assert "2 of 3 texts have no token (empty or whitespace-only): their embedding is the zero vector" in warnings_of(caplog)


def test_encode_of_no_text_is_an_empty_matrix(tokenizer):
    model = tiny_model("ae", tokenizer)
    assert model.encode([]).shape == (0, 16)


def test_encode_truncates_past_max_length_with_a_warning(tokenizer, caplog):
    caplog.set_level(logging.WARNING)
    model = tiny_model("ae", tokenizer, max_seq_length=8).eval()
    words = "the hotel was lovely and i loved the pizza".split()
    long = " ".join(words * 500)
    a, b = model.encode([long]), model.encode([" ".join((words * 500)[:8])])
    assert torch.equal(a, b)
    assert "1 of 1 texts were longer than 8 tokens and were truncated to it" in warnings_of(caplog)


def test_encode_iter_gives_encode_in_blocks(tokenizer, corpus):
    model = tiny_model("ae", tokenizer).eval()
    texts = list(corpus[:50])
    blocks = list(model.encode_iter(iter(texts), batch_size=8, chunk_size=16))
    assert [b.shape[0] for b in blocks] == [16, 16, 16, 2]
    torch.testing.assert_close(torch.cat(blocks), model.encode(texts, batch_size=8), rtol=0, atol=1e-6)


# ---- scripts other than Latin -------------------------------------------------------------------
SCRIPTS = {
    "cjk": "我 喜欢 这个 披萨 。",
    "emoji": "i 😀 loved 👍🏽 the 🇫🇷 pizza 👨‍👩‍👧 .",
    "arabic": "أحببت البيتزا كثيرا .",
    "hebrew": "אהבתי את הפיצה .",
    "zero_width": "i\u200b loved\u200d the\ufeff pizza\u2060 .",
}


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_text_noises_keep_other_scripts_valid(script):
    text = SCRIPTS[script]
    for name, noise in TEXT_NOISES.items():
        assert noise(text, 0.0, rng=1) == text, name  # rate 0 is the identity
        out = noise(text, 0.5, rng=1)
        assert out == noise(text, 0.5, rng=1), name  # seeded
        assert isinstance(out, str) and out.encode("utf-8").decode("utf-8") == out, name  # no lone surrogate
        if name.startswith(("insert_", "repeat_", "double_")):
            rest = iter(out)
            assert all(ch in rest for ch in text), name  # the input survives as a subsequence
        if name == "delete_chars":
            rest = iter(text)
            assert all(ch in rest for ch in out), name  # only deletions


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_unknown_scripts_encode_as_unknown_words(tokenizer, script):
    model = tiny_model("ae", tokenizer).eval()
    ids = model._tokenize([SCRIPTS[script]])[0]
    unknown = [i for i in ids if i == tokenizer.unk_token_id]
    assert len(ids) == len(SCRIPTS[script].split()) and len(unknown) >= 3
    # the same ids give the same vector: unknown words are one token, whatever their script
    same = " ".join(w if tokenizer.convert_tokens_to_ids(w) != tokenizer.unk_token_id else "zzzq" for w in SCRIPTS[script].split())
    assert torch.equal(model.encode([SCRIPTS[script]]), model.encode([same]))


@pytest.fixture(scope="module")
def bpe(corpus):
    return train_tokenizer([*corpus, *SCRIPTS.values()], "bpe", vocab_size=400)


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_a_byte_level_tokenizer_round_trips_every_script_and_generation_gives_text(bpe, script):
    text = SCRIPTS[script]
    assert bpe.decode(bpe(text, add_special_tokens=False)["input_ids"]) == " " + text  # the prefix space of byte-level BPE
    model = tiny_model("ae", bpe).eval()
    (out,) = model.reconstruct([text], max_new_tokens=6)
    assert isinstance(out, str) and out.encode("utf-8").decode("utf-8") == out
    assert torch.isfinite(model.encode([text])).all()


def test_zero_width_characters_vanish_under_fold_confusables(corpus):
    tok = fold_confusables(train_tokenizer(corpus, "wordlevel"))
    model = tiny_model("ae", tok).eval()
    assert torch.equal(model.encode([SCRIPTS["zero_width"]]), model.encode(["i loved the pizza ."]))


def test_cli_encode_keeps_every_script_exactly(tmp_path, saved):
    lines = tmp_path / "scripts.txt"
    lines.write_text("".join(SCRIPTS[k] + "\n" for k in sorted(SCRIPTS)), encoding="utf-8")
    assert main(["encode", str(saved), "--input", str(lines), "--output", str(tmp_path / "e.jsonl"), "--chunk-size", "2"]) == 0
    rows = [json.loads(x) for x in (tmp_path / "e.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["text"] for r in rows] == [SCRIPTS[k].strip() for k in sorted(SCRIPTS)]
    assert main(["encode", str(saved), "--input", str(lines), "--output", str(tmp_path / "e.npy"), "--chunk-size", "2"]) == 0
    import numpy as np

    np.testing.assert_allclose(np.load(tmp_path / "e.npy"), np.array([r["embedding"] for r in rows]), rtol=0, atol=1e-6)
