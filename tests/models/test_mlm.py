"""textae.models.mlm: the masked-LM family through the loop, the CLI and a reload."""

from __future__ import annotations

import json

import torch
import yaml
from transformers import AutoModel

from tests.conftest import TINY_ENCODER, make_batch, tiny_model
from textae.cli import main
from textae.models import TextMLM


def test_masked_tokens_are_predicted_at_bert_rates_and_specials_never_masked(tokenizer, corpus):
    model = tiny_model("mlm", tokenizer, mask_rate=0.5).eval()
    batch = make_batch(model, tokenizer, corpus[:16])
    out = model(**batch)
    changed = (out.input_ids != batch["input_ids"]) & batch["attention_mask"].bool()
    assert not torch.isin(batch["input_ids"][changed], torch.tensor(model.special_ids())).any()
    masked = (out.input_ids == tokenizer.mask_token_id).sum()
    assert 0.6 * len(out.labels) < masked <= len(out.labels)  # 80% of the masked read [MASK]
    assert torch.equal(model(**batch).loss, out.loss)  # eval mode: the same masks every call


def test_cli_train_eval_and_reload(tmp_path, capsys):
    recipe = {
        "model": {"family": "mlm", "encoder_config": TINY_ENCODER},
        "data": {"source": "synthetic", "synthetic_train_size": 96, "synthetic_eval_size": 16, "max_seq_length": 24},
        "train": {"max_steps": 3, "batch_size": 16, "eval_batch_size": 16, "warmup_steps": 1, "eval_every": 0, "save_every": 0, "log_every": 1, "output_dir": str(tmp_path / "run")},
    }
    path = tmp_path / "mlm.yaml"
    path.write_text("# textae train mlm.yaml\n" + yaml.safe_dump(recipe))
    assert main(["train", str(path)]) == 0
    run = tmp_path / "run"
    metrics = json.loads((run / "metrics.json").read_text())
    assert 0 <= metrics["electra"]["mlm_accuracy"] <= 1 and "rtd_accuracy" not in metrics["electra"]
    logged = set().union(*(json.loads(x) for x in (run / "logs" / "metrics.jsonl").read_text().splitlines()))
    assert "train/loss_mlm" in logged and "train/loss_reconstruction" not in logged
    assert "MLM: accuracy" in capsys.readouterr().out
    reloaded = AutoModel.from_pretrained(run / "model")
    assert type(reloaded) is TextMLM and reloaded.config.model_type == "textae_mlm"
