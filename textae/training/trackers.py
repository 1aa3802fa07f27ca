"""Experiment trackers for accelerate: a JSON-lines file (always available) and tensorboard."""

from __future__ import annotations

import json
from pathlib import Path

from accelerate.tracking import GeneralTracker, on_main_process

TRACKER_NAMES = ("jsonl", "tensorboard")


class JSONLTracker(GeneralTracker):
    """Appends one JSON object per ``log`` call to ``RUN_DIR/logs/metrics.jsonl``."""

    name = "jsonl"
    requires_logging_directory = False

    @on_main_process
    def __init__(self, run_name: str, logging_dir: str | Path):
        super().__init__()
        self.path = Path(logging_dir) / "metrics.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)

    @property
    def tracker(self):
        return self.path

    @on_main_process
    def store_init_configuration(self, values: dict):
        (self.path.parent / "config.json").write_text(json.dumps(values, indent=2, default=str))

    @on_main_process
    def log(self, values: dict, step: int | None = None, **kwargs):
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps({"step": step, **values}, default=float) + "\n")


def make_trackers(names: list[str], run_dir: Path) -> list:
    """accelerate ``log_with`` entries for the recipe's ``train.trackers``."""
    unknown = [n for n in names if n not in TRACKER_NAMES]
    if unknown:
        raise ValueError(f"unknown tracker {unknown[0]!r}; choose from {TRACKER_NAMES}")
    out = []
    for name in names:
        if name == "jsonl":
            out.append(JSONLTracker("textae", Path(run_dir) / "logs"))
        else:
            out.append("tensorboard")
    return out


def flat_config(recipe) -> dict:
    """The recipe as one level of ``section.key`` scalars, what trackers take as run settings."""
    flat = {}
    for section, values in recipe.to_dict().items():
        for k, v in values.items():
            flat[f"{section}.{k}"] = v if isinstance(v, (int, float, str, bool)) else json.dumps(v, default=str)
    return flat

