"""benchmarks/robust_corpus.py: every source read, duplicates and STS-B dev sentences left out."""

import importlib.util

from tests.conftest import REPO


def _module():
    spec = importlib.util.spec_from_file_location("robust_corpus", REPO / "benchmarks" / "robust_corpus.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_the_corpus_is_deduplicated_and_holds_no_stsb_dev_sentence(tmp_path):
    _write(tmp_path / "stsb" / "train.tsv", "score\tsentence1\tsentence2\n1.0\tA man plays.\tA dog runs.\n")
    _write(tmp_path / "stsb" / "dev.tsv", "score\tsentence1\tsentence2\n2.0\tThe held out one.\tAnother dev one.\n")
    for split in ("train", "dev"):
        for label in (0, 1):
            _write(tmp_path / "sst2" / f"{split}.{label}.txt", f"sst {split} {label}\na man plays.\n")
        _write(tmp_path / "snips" / f"{split}.tsv", f"label\ttext\nGetWeather\tsnips {split}\n")
    for split in ("train", "valid"):
        _write(tmp_path / "ptb" / f"{split}.txt", f"ptb {split}\nthe held out one.\n\n")
    for label in (0, 1):
        _write(tmp_path / "yelp" / f"dev.{label}.txt", f"yelp {label}\n")
    corpus, counts = _module().build_corpus(tmp_path)
    lowered = [s.lower() for s in corpus]
    assert len(lowered) == len(set(lowered))  # no duplicate, whatever its case
    assert "the held out one." not in lowered and "another dev one." not in lowered
    assert {"sst train 0", "snips dev", "ptb valid", "yelp 1", "a dog runs."} <= set(lowered)
    assert counts["dropped_as_duplicate"] == 4 and counts["dropped_as_stsb_dev"] == 2 and counts["sentences"] == len(corpus)


def test_the_pairs_tsv_loads_back_as_the_corpus_through_the_recipes_text_columns(tmp_path):
    import datasets

    from textae.data.loading import merge_text_columns

    corpus = ["one sentence.", "a second\twith a tab", "the third"]  # odd: the last row has one sentence
    _module().write_pairs_tsv(corpus, tmp_path / "train.tsv")
    ds = datasets.load_dataset("csv", data_files=str(tmp_path / "train.tsv"), delimiter="\t", quoting=3, cache_dir=str(tmp_path / "cache"))["train"]
    assert merge_text_columns(ds, ["sentence1", "sentence2"])["text"] == ["one sentence.", "a second with a tab", "the third"]
