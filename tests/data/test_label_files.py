"""Files given per label (SST-2's train.0.txt / train.1.txt): one ClassLabel column named by the recipe."""

import pytest

from tests.conftest import REPO, SHARED_DATA
from textae.data import load_raw_split, tokenize_dataset, train_tokenizer
from textae.training import RecipeError, load_recipe


def _write(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_one_file_per_label_gives_a_class_label_column_in_mapping_order(tmp_path):
    files = {
        "negative": [_write(tmp_path / "train.0.txt", ["a dull film", "bland soup"])],
        "positive": _write(tmp_path / "train.1.txt", ["a great film"]),  # a single path works too
    }
    ds = load_raw_split("files", "train", files, cache_dir=str(tmp_path / "c"), label_column="label")
    assert ds.features["label"].names == ["negative", "positive"]
    assert list(ds["text"]) == ["a dull film", "bland soup", "a great film"] and list(ds["label"]) == [0, 0, 1]
    tok = train_tokenizer(ds["text"], "wordlevel")
    tokenized = tokenize_dataset(ds, tok, "text", 16, label_column="label")
    assert list(tokenized["class_label"]) == [0, 0, 1]


def test_label_files_need_a_label_column_and_no_streaming(tmp_path):
    files = {"negative": [_write(tmp_path / "a.txt", ["x"])]}
    with pytest.raises(ValueError, match="need data.label_column"):
        load_raw_split("files", "train", files, cache_dir=str(tmp_path / "c"))
    with pytest.raises(ValueError, match="streaming is not supported"):
        load_raw_split("files", "train", files, streaming=True, label_column="label")
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        load_raw_split("files", "train", {"negative": [str(tmp_path / "missing.txt")]}, label_column="label")


def test_recipe_takes_files_per_label(tmp_path):
    r = load_recipe(REPO / "recipes/quickstart.yaml", ["data.train_files={neg: a.txt, pos: [b.txt, c.txt]}", "data.label_column=label"])
    assert r.data.train_files == {"neg": ["a.txt"], "pos": ["b.txt", "c.txt"]}
    with pytest.raises(RecipeError, match="label 'pos' must map to a file path or a list of them"):
        load_recipe(REPO / "recipes/quickstart.yaml", ["data.train_files={neg: a.txt, pos: 3}"])


@pytest.mark.skipif(not (SHARED_DATA / "sst2" / "train.0.txt").exists(), reason="SST-2 is not in ../shared/data (benchmark data; not shipped with textae)")
def test_cvae_sst2_recipe_reads_sst2_with_its_label_names(monkeypatch):
    from textae.training.build import raw_split

    monkeypatch.chdir(REPO)
    recipe = load_recipe(REPO / "recipes/cvae_sst2.yaml")
    train, dev = raw_split(recipe, "train"), raw_split(recipe, "eval")
    assert len(train) == 3310 + 3610 and len(dev) == 428 + 444
    assert train.features["label"].names == ["negative", "positive"]
    assert sum(train["label"]) == 3610
