import pytest

from textae.training.recipe import ScheduleSpec
from textae.training.schedules import constant, cyclical, linear, loss_weights_at, sigmoid, weight_at


def test_constant_and_linear():
    assert constant(123, 0.5) == 0.5
    assert [linear(s, 1.0, 0.0, 4) for s in range(6)] == [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    assert linear(0, 2.0, 0.0, 0) == 2.0


def test_sigmoid_rises_monotonically_through_the_midpoint():
    values = [sigmoid(s, 1.0, 0.0, 100) for s in range(0, 101, 10)]
    assert values == sorted(values)
    assert sigmoid(50, 1.0, 0.0, 100) == pytest.approx(0.5)
    assert values[0] < 0.01 and values[-1] > 0.99


def test_cyclical_shape():
    # 2 cycles over 100 steps (period 50); each: 25% held at zero, 50% rising, 25% flat at the top
    f = lambda s: cyclical(s, 1.0, 0.0, total_steps=100, cycles=2, ratio_increase=0.5, ratio_zero=0.25)  # noqa: E731
    assert [f(s) for s in (0, 12, 25, 37.5, 49, 50, 62, 75, 100)] == [0.0, 0.0, 0.5, 1.0, 1.0, 0.0, 0.0, 0.5, 0.0]
    assert f(20) == pytest.approx(0.3) and f(22.5) == pytest.approx(0.4)
    with pytest.raises(ValueError):
        cyclical(0, ratio_increase=0.8, ratio_zero=0.5)


def test_schedules_are_pure_functions_of_the_step():
    spec = ScheduleSpec(kind="cyclical", value=1.0, cycles=4, ratio_increase=0.5)
    first = [weight_at(spec, s, 1000) for s in range(0, 1000, 7)]
    assert first == [weight_at(spec, s, 1000) for s in range(0, 1000, 7)]
    assert loss_weights_at({"kl": ScheduleSpec(kind="linear", warmup_steps=10)}, 5, 100) == {"kl": 0.5}
    with pytest.raises(ValueError, match="unknown schedule kind"):
        weight_at(ScheduleSpec(kind="zigzag"), 0, 10)
