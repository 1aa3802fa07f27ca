"""textae.training.trackers: the JSON-lines tracker, the tracker names and the flat run settings."""

from __future__ import annotations

import json

import pytest

from textae.training import load_recipe
from textae.training.trackers import JSONLTracker, flat_config, make_trackers


def test_each_log_call_appends_one_json_line_with_its_step(tmp_path):
    tracker = JSONLTracker("run", tmp_path / "logs")
    tracker.log({"train/loss": 2.5}, step=1)
    tracker.log({"train/loss": 1.5}, step=2)
    rows = [json.loads(line) for line in tracker.path.read_text().splitlines()]
    assert rows == [{"step": 1, "train/loss": 2.5}, {"step": 2, "train/loss": 1.5}]
    tracker.store_init_configuration({"train.seed": 0})
    assert json.loads((tmp_path / "logs" / "config.json").read_text()) == {"train.seed": 0}


def test_an_unknown_tracker_is_refused_by_name(tmp_path):
    assert [type(t).__name__ for t in make_trackers(["jsonl"], tmp_path)] == ["JSONLTracker"]
    assert make_trackers(["tensorboard"], tmp_path) == ["tensorboard"]
    with pytest.raises(ValueError, match="'wandbx'"):
        make_trackers(["wandbx"], tmp_path)


def test_the_flat_config_holds_scalars_only():
    flat = flat_config(load_recipe(None, [], base={"model": {"family": "mlm"}, "data": {"source": "synthetic"}, "train": {"seed": 3}}))
    assert flat["model.family"] == "mlm" and flat["train.seed"] == 3
    assert all(isinstance(v, (int, float, str, bool)) for v in flat.values())
