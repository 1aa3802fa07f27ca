"""Checks of what users pass to the model API: accepted shapes of input, and errors that name the problem."""

from __future__ import annotations

import datasets
import numpy as np
import pytest
import torch

from textae.inputs import as_texts, check_latent, check_sampling


@pytest.mark.parametrize(
    "given",
    [["a b", "c"], ("a b", "c"), (t for t in ["a b", "c"]), np.array(["a b", "c"]), datasets.Dataset.from_dict({"text": ["a b", "c"]})["text"]],
    ids=["list", "tuple", "generator", "numpy", "datasets-column"],
)
def test_every_iterable_of_strings_becomes_a_list_of_str(given):
    texts = as_texts(given)
    assert texts == ["a b", "c"] and all(type(t) is str for t in texts)


def test_a_single_string_is_one_text_not_its_characters():
    assert as_texts("hello world") == ["hello world"]


@pytest.mark.parametrize(
    "given, message",
    [
        (None, "got NoneType"),
        (3, "got int"),
        (b"bytes", "got bytes"),
        (torch.tensor([1, 2]), "got Tensor"),
        (np.array([1.0, 2.0]), "numpy array of float64"),
        (["ok", 7], "item 1 is int"),
        (object(), "got object"),
    ],
)
def test_non_strings_are_refused_with_what_was_given(given, message):
    with pytest.raises(TypeError, match=message):
        as_texts(given, what="sentences")
    with pytest.raises(TypeError, match="^sentences must be"):
        as_texts(given, what="sentences")


def test_sampling_arguments_in_range_pass():
    check_sampling(1)
    check_sampling(np.int64(4), temperature=0.7, top_p=1.0)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"n": 0}, ValueError, "n must be ≥ 1, got 0"),
        ({"n": 2.0}, TypeError, "n must be an integer, got float"),
        ({"n": True}, TypeError, "n must be an integer, got bool"),
        ({"n": 1, "temperature": 0}, ValueError, "temperature must be a finite number > 0"),
        ({"n": 1, "temperature": float("inf")}, ValueError, "temperature must be a finite number > 0"),
        ({"n": 1, "top_p": 0}, ValueError, r"top_p must be in \(0, 1\], got 0"),
        ({"n": 1, "top_p": 1.5}, ValueError, r"top_p must be in \(0, 1\], got 1.5"),
    ],
)
def test_sampling_arguments_out_of_range_are_named(kwargs, error, message):
    with pytest.raises(error, match=message):
        check_sampling(**kwargs)


def test_a_latent_keeps_its_values_and_a_single_vector_becomes_one_row():
    z = torch.randn(3, 4)
    assert check_latent(z, 4) is z
    assert check_latent(z[0], 4).shape == (1, 4) and torch.equal(check_latent(z[0], 4)[0], z[0])
    per_position = torch.randn(2, 5, 4)
    assert check_latent(per_position, 4) is per_position
    from_list = check_latent([[0.5, 1.0, 0.0, -1.0]], 4)
    assert from_list.dtype == torch.float32 and from_list.tolist() == [[0.5, 1.0, 0.0, -1.0]]


def test_a_latent_of_the_wrong_width_or_kind_is_named():
    with pytest.raises(ValueError, match=r"latent must have shape \[N, 4\] for this model \(latent_dim 4\), got \[2, 3\]"):
        check_latent(torch.randn(2, 3), 4)
    with pytest.raises(ValueError, match=r"got \[1, 2, 3, 4\]"):
        check_latent(torch.randn(1, 2, 3, 4), 4)
    with pytest.raises(TypeError, match=r"latent must be a tensor \[N, 4\], got str"):
        check_latent("zz", 4)
