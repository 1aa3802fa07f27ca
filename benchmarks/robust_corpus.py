"""The unlabelled English corpus for robust-embedding fine-tunes: every sentence of the data sets in
../shared/data (STS-B train, SST-2 train and dev, SNIPS train and dev, PTB train and valid, Yelp dev),
stripped, deduplicated (case-insensitively, first occurrence kept), and never a sentence of the
STS-B dev pairs, which score the result. Writes one sentence per line and prints the counts, and
beside it the same sentences as a TSV in STS-B's columns (``sentence1`` / ``sentence2``, two
consecutive sentences a row, no score), so that a recipe reading ``text_column: [sentence1,
sentence2]`` trains on the corpus and scores the STS-B dev pairs with one setting.

    python benchmarks/robust_corpus.py                     # → runs/robust_corpus/train.{txt,tsv}
    python benchmarks/robust_corpus.py --data PATH --out FILE
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _lines(path: Path):
    with open(path, encoding="utf-8") as f:
        yield from (line.strip() for line in f)


def _tsv(path: Path, *columns: str):
    with open(path, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            for column in columns:
                yield (row.get(column) or "").strip()


def sources(data: Path) -> dict[str, list]:
    """The named sources, each an iterable of candidate sentences."""
    return {
        "stsb/train": _tsv(data / "stsb" / "train.tsv", "sentence1", "sentence2"),
        **{f"sst2/{split}.{label}": _lines(data / "sst2" / f"{split}.{label}.txt") for split in ("train", "dev") for label in (0, 1)},
        **{f"snips/{split}": _tsv(data / "snips" / f"{split}.tsv", "text") for split in ("train", "dev")},
        **{f"ptb/{split}": _lines(data / "ptb" / f"{split}.txt") for split in ("train", "valid")},
        **{f"yelp/dev.{label}": _lines(data / "yelp" / f"dev.{label}.txt") for label in (0, 1)},
    }


def build_corpus(data: Path) -> tuple[list[str], dict]:
    """(sentences, counts): the deduplicated corpus without any STS-B dev sentence."""
    held_out = {s.lower() for s in _tsv(data / "stsb" / "dev.tsv", "sentence1", "sentence2") if s}
    seen: set[str] = set()
    corpus, counts = [], {"held_out_stsb_dev": len(held_out), "sources": {}, "dropped_as_stsb_dev": 0, "dropped_as_duplicate": 0}
    for name, texts in sources(data).items():
        kept = 0
        for text in texts:
            key = text.lower()
            if not text:
                continue
            if key in held_out:
                counts["dropped_as_stsb_dev"] += 1
            elif key in seen:
                counts["dropped_as_duplicate"] += 1
            else:
                seen.add(key)
                corpus.append(text)
                kept += 1
        counts["sources"][name] = kept
    counts["sentences"] = len(corpus)
    return corpus, counts


def write_pairs_tsv(corpus: list[str], path: Path) -> None:
    """The corpus in STS-B's two text columns, two consecutive sentences a row (tabs made spaces)."""
    flat = [" ".join(s.split("\t")) for s in corpus]
    if len(flat) % 2:
        flat.append("")  # an empty value is no sentence: the row gives one
    rows = ["sentence1\tsentence2"] + [f"{a}\t{b}" for a, b in zip(flat[::2], flat[1::2])]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--out", default=str(REPO / "runs" / "robust_corpus" / "train.txt"))
    args = parser.parse_args()
    data = Path(args.data)
    if not (data / "stsb" / "dev.tsv").exists():
        print(f"robust_corpus: STS-B not found under {data} (pass --data)", file=sys.stderr)
        return 2
    corpus, counts = build_corpus(data)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(s + "\n" for s in corpus), encoding="utf-8")
    write_pairs_tsv(corpus, out.with_suffix(".tsv"))
    for name, kept in counts["sources"].items():
        print(f"{name:16s} {kept:7,d}")
    print(f"{counts['sentences']:,d} sentences → {out} ({counts['dropped_as_duplicate']:,d} duplicates and {counts['dropped_as_stsb_dev']:,d} STS-B dev sentences left out)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
