"""Loading text data through ``datasets``: the built-in synthetic corpus, local files or a hub dataset.

Local files go by extension: .txt (one sentence a line), .csv, .tsv, .json / .jsonl, .parquet, also
compressed (``.gz`` / ``.bz2`` / ``.xz``) and as globs (``data/*.txt``); see :mod:`.file_checks`. A hub
dataset is named as on the hub and needs its files in the local cache (nothing downloads in tests).
Files may also be given per label (``{"negative": [...], "positive": [...]}``, e.g. SST-2's
``train.0.txt`` / ``train.1.txt``): each row then gets its file's label as a ClassLabel column.

Text files (.txt, .csv, .tsv, .json, .jsonl) must be UTF-8: a file with other bytes is an error that
names the file and the line (nothing is replaced silently). Empty, whitespace-only and missing (None)
texts are dropped when tokenizing, and texts past ``max_length`` tokens are truncated; both are
counted in a warning.
"""

from __future__ import annotations

import codecs
import contextlib
import logging
from pathlib import Path

import datasets
import numpy as np
from datasets.exceptions import DatasetGenerationError

from . import file_checks
from .synthetic import synthetic_dataset
from .tokenization import encode_texts_flagged

logger = logging.getLogger(__name__)

FILE_BUILDERS = {".txt": "text", ".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet"}


def _file_builder(files: list[str]) -> tuple[list[str], str, dict]:
    """(the files, globs expanded; the ``datasets`` builder; its options), after checking the files."""
    files = file_checks.expand(files)
    suffixes = {file_checks.format_suffix(f) for f in files}
    if len(suffixes) != 1:
        raise ValueError(f"data files must share one format; got suffixes {sorted(suffixes)} in {files}")
    suffix = suffixes.pop()
    if suffix not in FILE_BUILDERS:
        raise ValueError(f"unsupported data file type {suffix!r} ({files[0]}); supported: {sorted(FILE_BUILDERS)}")
    missing = [f for f in files if not Path(f).exists()]
    if missing:
        raise FileNotFoundError(f"data file not found: {missing[0]}")
    for f in files:
        if suffix != ".parquet":
            check_utf8(f)
        file_checks.check_format(f, suffix)
    options = {"delimiter": "\t", "quoting": 3} if suffix == ".tsv" else {}  # 3 = csv.QUOTE_NONE
    return files, FILE_BUILDERS[suffix], options


def check_utf8(path: str | Path, chunk_bytes: int = 1 << 20) -> None:
    """Raises ValueError naming the file, the line and the byte offset of the first byte that is not
    UTF-8. Reads in chunks: memory stays flat whatever the file's size."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    lines_before = bytes_before = 0
    with file_checks.open_bytes(path) as f:  # a .gz / .bz2 / .xz file is checked as the text it holds
        while True:
            chunk = f.read(chunk_bytes)
            pending = decoder.getstate()[0]  # an incomplete character carried over (no newline in it)
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as err:
                data = pending + chunk
                line = lines_before + data[: err.start].count(b"\n") + 1
                offset = bytes_before - len(pending) + err.start
                raise ValueError(f"{path} line {line} is not valid UTF-8 (byte {offset}: {err.reason}); re-encode the file as UTF-8") from None
            if not chunk:
                return
            lines_before += chunk.count(b"\n")
            bytes_before += len(chunk)


def load_raw_split(
    source: str,
    split: str,
    files: list[str] | str | dict[str, list[str] | str] | None = None,
    dataset_config: str | None = None,
    streaming: bool = False,
    synthetic_size: int = 10000,
    synthetic_seed: int = 0,
    cache_dir: str | None = None,
    label_column: str | None = None,
) -> datasets.Dataset | datasets.IterableDataset:
    """One split as a ``datasets`` dataset.

    source: "synthetic" (built-in grammar), "files" (``files``: a path or a list of paths, or a
    mapping label name → path(s), see :func:`load_label_files`), or a hub dataset name (with
    ``dataset_config``) already in the local cache.
    """
    if source == "synthetic":
        ds = synthetic_dataset(synthetic_size, synthetic_seed, split)
        return ds.to_iterable_dataset() if streaming else ds
    if source == "files":
        if not files:
            raise ValueError(f"source 'files' needs data files for split {split!r}")
        if isinstance(files, dict):
            if streaming:
                raise ValueError("files given per label load in memory; streaming is not supported for them")
            if not label_column:
                raise ValueError("files given per label need data.label_column: the column their label names go to")
            return load_label_files(files, label_column, split, cache_dir)
        files = [files] if isinstance(files, str) else list(files)
        files, builder, options = _file_builder(files)
        if all(Path(f).stat().st_size == 0 for f in files):
            raise ValueError(f"the data files of split {split!r} are empty (0 bytes): {files}")
        with _named_read_errors(files):
            return datasets.load_dataset(builder, data_files={split: files}, split=split, streaming=streaming, cache_dir=cache_dir, **options)
    return datasets.load_dataset(source, dataset_config, split=split, streaming=streaming, cache_dir=cache_dir)


@contextlib.contextmanager
def _named_read_errors(files: list[str]):
    """datasets reports a file it cannot parse as "An error occurred while generating the dataset",
    the reason two exceptions down: the files and that reason, in one line."""
    try:
        yield
    except DatasetGenerationError as err:
        cause = err.__cause__ or err.__context__ or err
        reason = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        raise ValueError(f"could not read the data files {files}: {reason}") from None


def load_label_files(files: dict[str, list[str] | str], label_column: str, split: str = "train", cache_dir: str | None = None) -> datasets.Dataset:
    """One file (or several) per label → one dataset whose ``label_column`` is a ClassLabel with the
    mapping's names, in the mapping's order (ids 0, 1, ... as listed). Rows keep the files' order.
    SST-2: ``{"negative": ["train.0.txt"], "positive": ["train.1.txt"]}`` → columns text, label.
    """
    names = [str(name) for name in files]
    parts = []
    for index, (name, paths) in enumerate(files.items()):
        paths = [paths] if isinstance(paths, str) else list(paths)
        if not paths:
            raise ValueError(f"label {name!r} has no data files")
        paths, builder, options = _file_builder(paths)
        with _named_read_errors(paths):
            part = datasets.load_dataset(builder, data_files={split: paths}, split=split, cache_dir=cache_dir, **options)
        if label_column in (part.column_names or []):
            raise ValueError(f"files of label {name!r} already have a column {label_column!r}; per-label files add it")
        parts.append(part.add_column(label_column, [index] * len(part)))
    ds = datasets.concatenate_datasets(parts)
    return ds.cast_column(label_column, datasets.ClassLabel(names=names))


def class_label_names(ds, column: str | None) -> list[str] | None:
    """The names of ``column`` when the dataset types it as a ClassLabel (its ids are then kept as
    they are); None for any other column, a missing one or a dataset without features (a stream)."""
    feature = (getattr(ds, "features", None) or {}).get(column) if column else None
    return list(feature.names) if isinstance(feature, datasets.ClassLabel) else None


def column_array(ds, name: str):
    """One column of a map-style dataset as a numpy array, read through Arrow (``ds[name]`` goes row by
    row: minutes for millions of rows). Honours a filtered dataset's indices."""
    data, indices = getattr(ds, "data", None), getattr(ds, "_indices", None)
    if data is not None and hasattr(data, "column"):  # the Arrow table and, once filtered, its row indices
        values = np.asarray(data.column(name).to_numpy(zero_copy_only=False))
        return values if indices is None else values[indices.column(0).to_numpy()]
    return ds.select_columns([name]).with_format("arrow")[:].column(name).to_numpy()


def merge_text_columns(ds, columns: list[str], into: str = "text"):
    """One sentence per row from several text columns (e.g. the two sides of a sentence pair): each
    non-empty value becomes a row of column ``into``; the other columns are dropped."""
    for column in columns:
        check_text_column(ds, column)

    def flatten(batch):
        texts = [v for values in zip(*(batch[c] for c in columns)) for v in values]
        return {into: [t for t in texts if isinstance(t, str) and t.strip()]}

    return ds.map(flatten, batched=True, remove_columns=list(ds.column_names or []))


def check_text_column(ds, text_column: str, label_column: str | None = None) -> None:
    names = list(ds.column_names or [])
    for column in (text_column, label_column):
        if column is not None and names and column not in names:
            raise KeyError(f"column {column!r} not in the data; columns: {names}")
    file_checks.check_text_feature(ds, text_column)


def tokenize_dataset(
    ds,
    tokenizer,
    text_column: str,
    max_length: int,
    label_column: str | None = None,
    label2id: dict | None = None,
    keep_text: bool = False,
    decoder_tokenizer=None,
):
    """Adds ``input_ids`` (no special tokens, truncated) and ``length``; drops empty texts.
    With ``decoder_tokenizer`` (a decoder with its own tokenizer) also ``decoder_ids``, the same text
    in that tokenizer's ids.

    Empty, whitespace-only and missing (None) texts are dropped, and texts longer than
    ``max_length`` tokens keep their first ``max_length``; a warning gives both counts (a
    streaming dataset, read lazily, reports its first truncation only).

    A label column, when named, becomes integer ``class_label`` through ``label2id`` (ClassLabel
    columns keep their ids). ``keep_text`` keeps the stripped text as ``text`` (text-level noise
    corrupts it afresh each epoch).
    """
    check_text_column(ds, text_column, label_column)
    streaming = isinstance(ds, datasets.IterableDataset)
    reported = {"truncation": False}

    def tokenize(batch):
        texts = [t.strip() if isinstance(t, str) else "" for t in batch[text_column]]
        ids, flags = encode_texts_flagged(tokenizer, texts, max_length)
        if streaming:  # rows go to the collator as they are: plain lists
            out = {"input_ids": ids, "length": [len(x) for x in ids]}
        else:  # int32 ids: half the size of the cache files (and of the pages a memory-mapped read touches)
            out = {"input_ids": [np.asarray(x, dtype=np.int32) for x in ids], "length": np.asarray([len(x) for x in ids], dtype=np.int32)}
        if streaming:
            if any(flags) and not reported["truncation"]:
                reported["truncation"] = True
                logger.warning("texts in column %r longer than %d tokens are truncated to it", text_column, max_length)
        else:
            out["truncated"] = flags
        if keep_text:
            out["text"] = texts
        if decoder_tokenizer is not None:
            written, _ = encode_texts_flagged(decoder_tokenizer, texts, max_length)
            # a text the encoder's tokenizer reads but the decoder's drops entirely keeps one UNK to predict
            written = [w if w or not x else [decoder_tokenizer.unk_token_id] for w, x in zip(written, ids)]
            out["decoder_ids"] = written if streaming else [np.asarray(w, dtype=np.int32) for w in written]
        if label_column is not None:
            labels = batch[label_column]
            if label2id is not None:
                unknown = sorted({str(v) for v in labels if str(v) not in label2id})
                if unknown:
                    raise ValueError(f"labels {unknown} are not among the known labels {sorted(label2id)}")
                labels = [label2id[str(v)] for v in labels]
            out["class_label"] = labels
        return out

    keep = {"input_ids", "length", "class_label", "decoder_ids"} | ({"text"} if keep_text else set())
    remove = [c for c in (ds.column_names or []) if c not in keep]
    ds = ds.map(tokenize, batched=True, remove_columns=remove)
    kept = ds.filter(lambda lengths: [n > 0 for n in lengths], batched=True, input_columns=["length"])
    if streaming:
        return kept
    dropped, truncated = len(ds) - len(kept), int(column_array(kept, "truncated").sum())
    if dropped:
        logger.warning("skipped %d of %d texts in column %r: empty, whitespace-only or missing (None)", dropped, len(ds), text_column)
    if truncated:
        logger.warning("%d of %d texts in column %r were longer than %d tokens and were truncated to it", truncated, len(kept), text_column, max_length)
    return kept.remove_columns("truncated")
