"""The optimizer of a run: AdamW over trainable parameters, no decay on biases and norms, the kernel choice."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from tests.conftest import tiny_model
from textae.training.optim import _param_groups, make_optimizer


def settings(**overrides):
    return SimpleNamespace(**{"adamw_impl": "auto", "weight_decay": 0.01, "learning_rate": 3e-4, "new_learning_rate": None, "adam_beta2": 0.98, **overrides})


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(4, 4)
        self.layer_norm = torch.nn.LayerNorm(4)
        self.frozen = torch.nn.Linear(4, 4)
        self.frozen.requires_grad_(False)


def test_weights_decay_biases_and_norms_do_not_and_frozen_parameters_are_left_out():
    model = Tiny()
    decay, no_decay = _param_groups(model, 0.1)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert [id(p) for p in decay["params"]] == [id(model.proj.weight)]
    assert {id(p) for p in no_decay["params"]} == {id(model.proj.bias), id(model.layer_norm.weight), id(model.layer_norm.bias)}


def test_every_trainable_parameter_of_a_textae_model_is_in_exactly_one_group(tokenizer):
    model = tiny_model("vae", tokenizer)
    groups = _param_groups(model, 0.01)
    ids = [id(p) for g in groups for p in g["params"]]
    assert len(ids) == len(set(ids)) and set(ids) == {id(p) for p in model.parameters() if p.requires_grad}


@pytest.mark.parametrize("impl, fused, foreach", [("fused", True, None), ("foreach", None, True), ("single", None, False), ("auto", True, None)])
def test_the_kernel_is_the_one_asked_for_and_the_hyperparameters_come_from_the_recipe(impl, fused, foreach):
    optimizer = make_optimizer(Tiny(), settings(adamw_impl=impl))
    assert isinstance(optimizer, torch.optim.AdamW)
    assert optimizer.defaults["fused"] == fused and optimizer.defaults["foreach"] == foreach  # fp32 on the CPU: auto is fused
    assert optimizer.defaults["lr"] == 3e-4 and optimizer.defaults["betas"] == (0.9, 0.98)
    assert [g["weight_decay"] for g in optimizer.param_groups] == [0.01, 0.0]


def test_auto_falls_back_to_foreach_where_fused_has_no_kernel():
    model = Tiny().double()  # torch's fused AdamW takes no float64
    assert make_optimizer(model, settings()).defaults["foreach"] is True


def test_an_unknown_kernel_is_named():
    with pytest.raises(ValueError, match=r"train.adamw_impl must be 'auto', 'fused', 'foreach' or 'single', got 'sparse'"):
        make_optimizer(Tiny(), settings(adamw_impl="sparse"))


def test_new_learning_rate_puts_what_no_checkpoint_filled_in_groups_of_its_own():
    model = Tiny()
    model.pretrained_parameter_names = frozenset({"proj.weight", "proj.bias"})
    optimizer = make_optimizer(model, settings(new_learning_rate=1e-2))
    by_lr = {}
    for group in optimizer.param_groups:
        for p in group["params"]:
            by_lr[id(p)] = (group["lr"], group["weight_decay"])
    assert by_lr[id(model.proj.weight)] == (3e-4, 0.01) and by_lr[id(model.proj.bias)] == (3e-4, 0.0)
    assert by_lr[id(model.layer_norm.weight)] == (1e-2, 0.0) and by_lr[id(model.layer_norm.bias)] == (1e-2, 0.0)
    assert id(model.frozen.weight) not in by_lr


def test_new_learning_rate_without_pretrained_weights_is_named():
    with pytest.raises(ValueError, match="train.new_learning_rate .* loaded none"):
        make_optimizer(Tiny(), settings(new_learning_rate=1e-2))
