"""The Hugging Face plumbing shared by the families."""

from __future__ import annotations

import doctest

import pytest
import torch

import textae.models.hf as hf
from textae.models.hf import eval_mode


def test_eval_mode_puts_back_the_training_mode_even_when_the_block_raises():
    net = torch.nn.Sequential(torch.nn.Dropout(0.5))
    with pytest.raises(RuntimeError, match="boom"):
        with eval_mode(net):
            assert not net.training and not net[0].training
            raise RuntimeError("boom")
    assert net.training and net[0].training


def test_eval_mode_leaves_a_model_in_eval_mode_in_eval_mode():
    net = torch.nn.Dropout(0.5).eval()
    with eval_mode(net):
        pass
    assert not net.training


def test_the_docstring_examples_run():
    assert doctest.testmod(hf).failed == 0
