import json

import pytest

from textae.data import load_raw_split, tokenize_dataset, train_tokenizer


@pytest.mark.parametrize("suffix", [".txt", ".csv", ".tsv", ".json", ".jsonl", ".parquet"])
def test_local_files_of_every_format_load(tmp_path, suffix):
    texts = ["the cat sat", "a dog ran", "birds sing"]
    path = tmp_path / f"data{suffix}"
    if suffix == ".txt":
        path.write_text("\n".join(texts) + "\n")
    elif suffix in (".csv", ".tsv"):
        sep = "," if suffix == ".csv" else "\t"
        path.write_text("text" + sep + "label\n" + "".join(f"{t}{sep}{i % 2}\n" for i, t in enumerate(texts)))
    elif suffix == ".json":
        path.write_text(json.dumps([{"text": t} for t in texts]))
    elif suffix == ".jsonl":
        path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    else:
        import datasets

        datasets.Dataset.from_dict({"text": texts}).to_parquet(str(path))
    ds = load_raw_split("files", "train", [str(path)], cache_dir=str(tmp_path / "cache"))
    assert list(ds["text"]) == texts


def test_missing_text_column_error_names_the_columns(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("sentence,label\nhello there,1\n")
    ds = load_raw_split("files", "train", [str(path)], cache_dir=str(tmp_path / "c"))
    tok = train_tokenizer(["hello there"], "wordlevel")
    with pytest.raises(KeyError, match=r"column 'text' not in the data; columns: \['sentence', 'label'\]"):
        tokenize_dataset(ds, tok, "text", 32)


def test_missing_file_and_unknown_suffix_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        load_raw_split("files", "train", [str(tmp_path / "nope.txt")])
    odd = tmp_path / "data.xml"
    odd.write_text("<a/>")
    with pytest.raises(ValueError, match="unsupported data file type '.xml'"):
        load_raw_split("files", "train", [str(odd)])


def test_tokenize_drops_empty_texts_and_truncates(tmp_path):
    import datasets

    ds = datasets.Dataset.from_dict({"text": ["a b c d e f", "   ", "", "b"]})
    tok = train_tokenizer(["a b c d e f"], "wordlevel")
    out = tokenize_dataset(ds, tok, "text", max_length=3)
    assert out["length"] == [3, 1]
    assert out["input_ids"][0] == tok("a b c", add_special_tokens=False)["input_ids"]


def test_streaming_synthetic_split_iterates():
    ds = load_raw_split("synthetic", "train", streaming=True, synthetic_size=5)
    assert len(list(ds)) == 5


@pytest.mark.parametrize("kind", ["wordlevel", "wordpiece", "bpe"])
def test_trained_tokenizers_round_trip_and_have_fixed_special_ids(kind, corpus):
    tok = train_tokenizer(corpus, kind, vocab_size=500)
    assert [tok.pad_token_id, tok.unk_token_id, tok.bos_token_id, tok.eos_token_id, tok.mask_token_id] == [0, 1, 2, 3, 4]
    text = corpus[0]
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert " ".join(tok.decode(ids, skip_special_tokens=True).split()) == text
