import warnings

import pytest

from textae.training import precision


@pytest.fixture
def cpu_bf16(monkeypatch):
    """Sets what the CPU is said to do: ``cpu_bf16(True)`` for native bf16."""

    def set_native(native: bool):
        monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: native)

    return set_native


def test_bf16_on_a_cpu_that_only_emulates_it_warns_and_names_the_setting(cpu_bf16):
    cpu_bf16(False)
    with pytest.warns(RuntimeWarning, match=r"train\.bf16=false"):
        assert precision.warn_if_bf16_is_emulated(True, on_cpu=True)


@pytest.mark.parametrize("bf16, native", [(False, False), (True, True), (False, True)])
def test_no_warning_where_bf16_is_off_or_native(cpu_bf16, bf16, native):
    cpu_bf16(native)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not precision.warn_if_bf16_is_emulated(bf16, on_cpu=True)


def test_bf16_is_fast_on_cpu_exactly_when_the_cpu_has_it(cpu_bf16):
    for native in (True, False):
        cpu_bf16(native)
        assert precision.bf16_is_fast(on_cpu=True) is native


def test_the_cpu_check_answers_a_bool():
    assert isinstance(precision.cpu_has_native_bf16(), bool)


def test_the_loop_warns_when_a_recipe_asks_for_emulated_bf16(cpu_bf16, tmp_path):
    from tests.training.test_loop import tiny_recipe
    from textae.training import train

    cpu_bf16(False)
    with pytest.warns(RuntimeWarning, match="no bf16 instructions"):
        train(tiny_recipe(tmp_path, "train.max_steps=1", "train.bf16=true", "train.save_every=0", "train.eval_every=0"))


@pytest.mark.parametrize("native", [True, False])
def test_auto_turns_bf16_on_exactly_where_the_cpu_computes_it(cpu_bf16, native):
    cpu_bf16(native)
    assert precision.resolve_bf16("auto", on_cpu=True) is native
    assert precision.resolve_bf16(True, on_cpu=True) is True
    assert precision.resolve_bf16(False, on_cpu=True) is False


def test_a_recipe_takes_auto_and_names_a_bad_value(tmp_path):
    from tests.training.test_loop import tiny_recipe
    from textae.training.recipe import RecipeError

    assert tiny_recipe(tmp_path, "train.bf16=auto").train.bf16 == "auto"
    with pytest.raises(RecipeError, match=r"train\.bf16"):
        tiny_recipe(tmp_path, "train.bf16=sometimes")


def test_the_run_records_the_precision_auto_chose(cpu_bf16, tmp_path):
    from tests.training.test_loop import tiny_recipe
    from textae.training import train

    cpu_bf16(False)
    result = train(tiny_recipe(tmp_path, "train.max_steps=1", "train.bf16=auto", "train.save_every=0", "train.eval_every=0"))
    assert result.metrics["throughput"]["mixed_precision"] == "no"
