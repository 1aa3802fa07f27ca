"""The same recipe and seed give the same run twice: identical evaluation metrics (every number the
run reports, the VAE's sampled IW-NLL, KL and active units included) and identical final weights."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from tests.training.test_loop import tiny_recipe
from textae.training import train

SETTINGS = ["train.max_steps=6", "train.save_every=0", "train.eval_every=3", "train.log_every=2", "train.iw_samples=4", "data.synthetic_train_size=64", "data.synthetic_eval_size=16"]


def _without_timings(metrics: dict) -> dict:
    """The metrics less what measures the machine rather than the model (seconds, tokens per second)."""
    out = json.loads(json.dumps(metrics))
    out.pop("throughput")
    for row in out.get("train_history_tail", []):
        row.pop("tokens_per_second")
    return out


@pytest.mark.parametrize("family", ["ae", "vae"])
def test_the_same_recipe_and_seed_give_the_same_metrics_and_weights(tmp_path, family):
    runs = [train(tiny_recipe(tmp_path / name, *SETTINGS, family=family)) for name in ("first", "second")]
    a, b = (json.loads((r.run_dir / "metrics.json").read_text()) for r in runs)
    assert _without_timings(a) == _without_timings(b)
    assert a["eval"]["loss"] > 0 and a["throughput"]["steps"] == b["throughput"]["steps"] == 6
    if family == "vae":
        assert a["vae"]["iw_samples"] == 4 and a["vae"]["iw_nll_per_sentence"] == b["vae"]["iw_nll_per_sentence"]
    wa, wb = (load_file(r.model_dir / "model.safetensors") for r in runs)
    assert wa.keys() == wb.keys() and len(wa) > 10
    for key in wa:
        assert torch.equal(wa[key], wb[key]), key
    # the logged training curves agree too, line for line (timings aside)
    logs = [[{k: v for k, v in json.loads(x).items() if "tokens_per_second" not in k and "train_seconds" not in k} for x in (r.run_dir / "logs" / "metrics.jsonl").read_text().splitlines()] for r in runs]
    assert logs[0] == logs[1] and len(logs[0]) >= 3


def test_another_seed_gives_other_weights(tmp_path):
    a = train(tiny_recipe(tmp_path / "a", *SETTINGS, "train.eval_every=0")).model.state_dict()
    b = train(tiny_recipe(tmp_path / "b", *SETTINGS, "train.eval_every=0", "train.seed=1234")).model.state_dict()
    assert any(not torch.equal(a[k], b[k]) for k in a)  # the determinism above is not a constant model
