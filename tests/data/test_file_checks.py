"""Checks of local data files before datasets reads them: globs, compression, and each format's refusals."""

from __future__ import annotations

import bz2
import gzip
import lzma

import datasets
import pytest

from textae.data import file_checks as fc


def test_a_glob_expands_to_its_sorted_files_and_plain_names_pass_through(tmp_path):
    for name in ("b.txt", "a.txt", "c.csv"):
        (tmp_path / name).write_text("x\n")
    (tmp_path / "d.txt").mkdir()  # a folder matching the glob is not a file
    assert fc.expand([str(tmp_path / "*.txt"), "kept/as/given.txt"]) == [str(tmp_path / "a.txt"), str(tmp_path / "b.txt"), "kept/as/given.txt"]


def test_a_glob_matching_nothing_and_a_directory_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no data file matches the pattern .*\*\.tsv"):
        fc.expand([str(tmp_path / "*.tsv")])
    with pytest.raises(ValueError, match=r"is a directory; name its files, or a glob such as .*\*\.txt"):
        fc.expand([str(tmp_path)])


@pytest.mark.parametrize("name, suffix", [("train.txt", ".txt"), ("train.TXT.GZ", ".txt"), ("a.b.jsonl.xz", ".jsonl"), ("data.csv.bz2", ".csv"), ("README", ""), ("x.gz", "")])
def test_the_format_suffix_is_read_under_a_compression_suffix(name, suffix):
    assert fc.format_suffix(name) == suffix


@pytest.mark.parametrize("ext, opener", [(".gz", gzip.open), (".bz2", bz2.open), (".xz", lzma.open), ("", open)])
def test_open_bytes_gives_back_the_bytes_that_were_written(tmp_path, ext, opener):
    path = tmp_path / f"t.txt{ext}"
    payload = "one line\nsecond, with a comma\n".encode()
    with opener(path, "wb") as f:
        f.write(payload)
    with fc.open_bytes(path) as f:
        assert f.read() == payload


def test_a_tsv_row_with_another_width_is_named_by_line(tmp_path):
    good = tmp_path / "good.tsv"
    good.write_text("text\tlabel\na b\t1\n\nc d\t0\n")
    fc.check_format(str(good), ".tsv")  # a blank line is no row
    bad = tmp_path / "bad.tsv.gz"
    with gzip.open(bad, "wt") as f:
        f.write("text\tlabel\na b\t1\nc\td\t0\n")
    with pytest.raises(ValueError, match=r"bad\.tsv\.gz line 3 has 3 tab-separated fields, the header has 2"):
        fc.check_format(str(bad), ".tsv")


@pytest.mark.parametrize("content", ['{"text": "a"}\n{"text": "b"}\n', '[{"text": "a"}]', '["a", "b"]', "[]", "\ufeff  \n", ""])
def test_json_records_strings_and_empty_files_pass(tmp_path, content):
    path = tmp_path / "d.json"
    path.write_text(content, encoding="utf-8")
    fc.check_format(str(path), ".json")


@pytest.mark.parametrize(
    "content, message",
    [
        ("[[1, 2]]", "a list of lists"),
        ("[1, 2]", "a list of numbers"),
        ("[true]", "a list of values that are not objects"),
        ("just some text\nmore", "it starts with 'just some text'"),
    ],
)
def test_json_that_is_not_records_is_named(tmp_path, content, message):
    path = tmp_path / "d.jsonl"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        fc.check_format(str(path), ".jsonl")


def test_a_parquet_file_needs_its_marks_and_no_outer_compression(tmp_path):
    real = tmp_path / "ok.parquet"
    datasets.Dataset.from_dict({"text": ["a", "b"]}).to_parquet(str(real))
    fc.check_format(str(real), ".parquet")
    fake = tmp_path / "fake.parquet"
    fake.write_text("text\na\n")
    with pytest.raises(ValueError, match="fake.parquet is not a Parquet file"):
        fc.check_format(str(fake), ".parquet")
    with pytest.raises(ValueError, match="a compressed Parquet file is not read"):
        fc.check_format(str(tmp_path / "x.parquet.gz"), ".parquet")


def test_text_formats_without_a_check_are_left_to_datasets(tmp_path):
    assert fc.check_format(str(tmp_path / "missing.txt"), ".txt") is None


def test_a_text_column_must_hold_strings():
    fc.check_text_feature(datasets.Dataset.from_dict({"text": ["a"], "n": [1]}), "text")
    fc.check_text_feature(datasets.Dataset.from_dict({"text": [None, None]}), "text")  # all missing: dropped as empty
    fc.check_text_feature(datasets.Dataset.from_dict({"text": ["a"]}), "absent")  # a missing column is named elsewhere
    with pytest.raises(ValueError, match=r"column 'n' holds int64 values, not text; set data.text_column"):
        fc.check_text_feature(datasets.Dataset.from_dict({"n": [1, 2]}), "n")
    with pytest.raises(ValueError, match=r"column 'tokens' holds (List|Sequence), not text"):
        fc.check_text_feature(datasets.Dataset.from_dict({"tokens": [["a", "b"]]}), "tokens")
