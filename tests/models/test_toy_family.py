"""A new family is a config, one model file, a recipe and one registry line: a toy family, built
here in 20 lines, trains through the loop, reports its own loss term, saves and loads with AutoModel,
and the CLI serves it, with no change anywhere else in textae."""

import json

import pytest
import torch
import yaml
from transformers import AutoModel

from tests.training.test_loop import TINY
from textae.models import FAMILIES, TextAutoencoderConfig, TextAutoencoderModel, register_family
from textae.training import load_recipe, train


# ---- the whole family: a config, a model, one registry line ------------------------------------
class UnitNormAEConfig(TextAutoencoderConfig):
    model_type = "textae_toy_unit_norm"
    default_bottleneck = "identity"


class UnitNormAE(TextAutoencoderModel):
    """An autoencoder whose sentence vectors are pulled toward the unit sphere (loss term ``norm``)."""

    config_class = UnitNormAEConfig

    def default_loss_weights(self) -> dict[str, float]:
        return {**super().default_loss_weights(), "norm": 0.5}

    def forward(self, input_ids=None, attention_mask=None, labels=None, latent=None, loss_weights=None, **inputs):
        out = super().forward(input_ids, attention_mask, labels, latent, loss_weights, **inputs)
        if latent is None:  # training / evaluation forward: add the family's term
            out.loss_terms["norm"] = (out.latent.norm(dim=-1) - 1.0).pow(2).mean()
            out.loss = self.combine_losses(out.loss_terms, loss_weights)
        return out


@pytest.fixture
def toy_family():
    register_family("toy_unit_norm", UnitNormAEConfig, UnitNormAE)
    yield "toy_unit_norm"
    FAMILIES.pop("toy_unit_norm")


def test_a_toy_family_trains_reports_its_term_saves_loads_and_serves_the_cli(tmp_path, toy_family, capsys):
    tree = json.loads(json.dumps(TINY))
    tree["model"]["family"] = toy_family
    tree["train"].update(max_steps=4, save_every=0, eval_every=0, output_dir=str(tmp_path / "run"))
    recipe_path = tmp_path / "toy.yaml"
    recipe_path.write_text(yaml.safe_dump(tree))

    result = train(load_recipe(recipe_path))
    assert type(result.model) is UnitNormAE
    assert result.metrics["eval"]["loss_norm"] >= 0.0 and "reconstruction" in result.metrics  # its term, the AE's report
    logged = set().union(*(json.loads(x) for x in (tmp_path / "run" / "logs" / "metrics.jsonl").read_text().splitlines()))
    assert "train/loss_norm" in logged

    loaded = AutoModel.from_pretrained(result.model_dir).eval()
    assert type(loaded) is UnitNormAE
    texts = ["the cat sat on the mat", "a dog ran"]
    torch.testing.assert_close(loaded.encode(texts), result.model.eval().encode(texts), rtol=1e-5, atol=1e-6)

    from textae.cli import main

    lines = tmp_path / "in.txt"
    lines.write_text("\n".join(texts) + "\n")
    assert main(["encode", str(result.run_dir), "--input", str(lines), "--output", str(tmp_path / "z.npy")]) == 0
    assert "wrote 2 × 16 embeddings" in capsys.readouterr().out


def test_registering_another_family_under_a_taken_name_is_refused(toy_family):
    with pytest.raises(ValueError, match="already registered as UnitNormAE"):
        register_family(toy_family, TextAutoencoderConfig, TextAutoencoderModel)
