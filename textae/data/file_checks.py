"""Checks of local data files before ``datasets`` reads them, so that a file that is not what its
name says is named with its line, instead of failing deep inside Arrow or pandas.

Accepted as users expect: a glob (``data/*.txt``, sorted), a compressed file (``.gz``, ``.bz2``,
``.xz``: ``train.txt.gz`` is read as the ``.txt`` it holds), quoted CSV fields holding commas and
newlines, a JSON list of strings (one text each). Refused with the file named: a directory, a glob
that matches nothing, a TSV row with another number of fields than its header, a ``.json(l)`` file
that is not JSON objects, a ``.parquet`` file that is not Parquet, a text column that holds no text.
"""

from __future__ import annotations

import bz2
import glob
import gzip
import lzma
from pathlib import Path

COMPRESSIONS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
GLOB_CHARS = set("*?[")
TEXT_DTYPES = {"string", "large_string", "null"}  # null: a column of missing values, dropped as empty


def expand(files: list[str]) -> list[str]:
    """Globs → their matches (sorted); a directory or a pattern that matches nothing is an error."""
    out = []
    for f in files:
        if GLOB_CHARS & set(str(f)):
            matches = sorted(p for p in glob.glob(str(f), recursive=True) if Path(p).is_file())
            if not matches:
                raise FileNotFoundError(f"no data file matches the pattern {f}")
            out.extend(matches)
        elif Path(f).is_dir():
            raise ValueError(f"data file {f} is a directory; name its files, or a glob such as {Path(f) / '*.txt'}")
        else:
            out.append(str(f))
    return out


def format_suffix(path: str | Path) -> str:
    """The format's extension, under a compression one: train.txt.gz → .txt."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] in COMPRESSIONS:
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else ""


def open_bytes(path: str | Path):
    """The file's bytes, decompressed when its name ends in .gz / .bz2 / .xz."""
    opener = COMPRESSIONS.get(Path(path).suffix.lower(), open)
    return opener(path, "rb")


def check_format(path: str, suffix: str) -> None:
    if suffix == ".tsv":
        _check_tsv(path)
    elif suffix in (".json", ".jsonl"):
        _check_json(path)
    elif suffix == ".parquet":
        if Path(path).suffix.lower() in COMPRESSIONS:
            raise ValueError(f"{path}: a compressed Parquet file is not read (Parquet compresses its columns itself)")
        with open(path, "rb") as f:
            head = f.read(4)
            f.seek(max(0, Path(path).stat().st_size - 4))
            tail = f.read(4)
        if head != b"PAR1" or tail != b"PAR1":
            raise ValueError(f"{path} is not a Parquet file (no PAR1 marks at its start and end)")


def _check_tsv(path: str) -> None:
    """Every row has the header's number of tab-separated fields (fields are not quoted in TSV)."""
    with open_bytes(path) as f:
        width = None
        for number, raw in enumerate(f, start=1):
            line = raw.rstrip(b"\r\n")
            if not line and width is not None:
                continue  # a blank line: no row
            fields = line.count(b"\t") + 1
            if width is None:
                width = fields
            elif fields != width:
                raise ValueError(f"{path} line {number} has {fields} tab-separated fields, the header has {width}")


def _check_json(path: str) -> None:
    """The file starts as JSON objects do: JSON Lines (``{...}`` a line) or a list of objects or strings."""
    with open_bytes(path) as f:
        head = f.read(1 << 16).decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    if not head:
        return  # empty: reported as an empty split
    if head[0] == "[":
        first = head[1:].lstrip(" \t\r\n")[:1]
        if first and first not in '{"]':
            raise ValueError(f"{path} is JSON but not records: a list of {_kind(first)}; expected objects such as {{\"text\": \"...\"}} (one per line in .jsonl) or strings")
        return
    if head[0] != "{":
        line = head.splitlines()[0][:40]
        raise ValueError(f"{path} is not JSON records: it starts with {line!r}; expected objects such as {{\"text\": \"...\"}} (a plain text file is read as .txt)")


def _kind(first: str) -> str:
    return "lists" if first == "[" else "numbers" if first in "-0123456789" else "values that are not objects"


def check_text_feature(ds, column: str) -> None:
    """A text column must hold strings: a column of numbers or lists is named, not silently dropped."""
    feature = (getattr(ds, "features", None) or {}).get(column)
    if feature is None:
        return
    dtype = getattr(feature, "dtype", None)
    if dtype in TEXT_DTYPES:
        return
    kind = f"{dtype} values" if dtype and dtype != "list" else type(feature).__name__
    raise ValueError(f"column {column!r} holds {kind}, not text; set data.text_column to the column that holds the sentences")
