"""Weights from folders textae did not write: safetensors only, pickles refused before anything opens them."""

from __future__ import annotations

import pytest

from textae.safe_loading import PICKLE_SUFFIXES, SAFE_WEIGHTS, UnsafeWeightsError, refuse_pickled_weights


@pytest.mark.parametrize("suffix", PICKLE_SUFFIXES)
def test_a_folder_with_only_pickled_weights_is_refused_and_the_files_are_named(tmp_path, suffix):
    (tmp_path / f"weights{suffix}").write_bytes(b"not read")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(UnsafeWeightsError, match=f"holds its weights only as a pickle \\(weights\\{suffix}\\)") as err:
        refuse_pickled_weights(tmp_path)
    assert "save_pretrained" in str(err.value)  # says how to convert a trusted file
    assert isinstance(err.value, ValueError)


def test_every_pickle_is_listed_in_sorted_order(tmp_path):
    for name in ("b.pt", "a.bin", "c.ckpt"):
        (tmp_path / name).write_bytes(b"")
    with pytest.raises(UnsafeWeightsError, match=r"\(a\.bin, b\.pt, c\.ckpt\)"):
        refuse_pickled_weights(str(tmp_path))


@pytest.mark.parametrize("safe_file", ["model.safetensors", "model.safetensors.index.json"])
def test_safetensors_beside_a_pickle_are_accepted(tmp_path, safe_file):
    (tmp_path / "pytorch_model.bin").write_bytes(b"")
    (tmp_path / safe_file).write_bytes(b"")
    assert refuse_pickled_weights(tmp_path) is None


def test_names_that_are_not_local_folders_and_folders_without_weights_pass(tmp_path):
    assert refuse_pickled_weights("some-org/some-model") is None
    assert refuse_pickled_weights(tmp_path / "missing") is None
    (tmp_path / "notes.txt").write_text("no weights here")
    assert refuse_pickled_weights(tmp_path) is None
    file_path = tmp_path / "model.bin"
    file_path.write_bytes(b"")
    assert refuse_pickled_weights(file_path) is None  # a file, not a folder


def test_from_pretrained_is_asked_for_safetensors():
    assert SAFE_WEIGHTS == {"use_safetensors": True}
