"""Training events: one optional callback observes named points; nothing happens without one."""

from __future__ import annotations

import pytest

from textae.training import events


def test_without_a_callback_emit_does_nothing():
    assert events._callback is None
    assert events.emit("step", 3) is None


def test_the_callback_sees_each_event_in_order_and_is_gone_after_the_block():
    seen = []
    with events.observed_by(lambda name, step: seen.append((name, step))):
        events.emit("batch", 1)
        events.emit("step", 1)
    events.emit("step", 2)
    assert seen == [("batch", 1), ("step", 1)]


def test_an_inner_block_replaces_the_callback_and_none_keeps_the_outer_one():
    outer, inner = [], []
    with events.observed_by(lambda n, s: outer.append(n)):
        with events.observed_by(lambda n, s: inner.append(n)):
            events.emit("a", 0)
        with events.observed_by(None):
            events.emit("b", 0)
        events.emit("c", 0)
    assert inner == ["a"] and outer == ["b", "c"]


def test_the_callback_is_restored_when_the_block_raises():
    with pytest.raises(RuntimeError, match="boom"):
        with events.observed_by(lambda n, s: None):
            raise RuntimeError("boom")
    assert events._callback is None
