"""Every docstring example of textae.noise runs and gives what it shows."""

import doctest
import importlib

import pytest

MODULES = ["tokens", "text", "chars", "continuous", "pipeline"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(f"textae.noise.{name}")
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
