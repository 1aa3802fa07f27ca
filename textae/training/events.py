"""Training events: named points of a step and of a run, which one optional callback observes.

The points, in the order a step meets them: batch, backward, optimizer, scheduler, step, log, eval,
save_begin, save_state, save_state_file, save_renamed, save_pruned; after training, finish_begin and
finish_model. ``train(recipe, on_event=fn)`` calls ``fn(name, step)`` at each (the fault-injection
tests kill the process there, as a crash or a power cut would). With no callback a point costs one
global lookup.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

EventCallback = Callable[[str, int], None]

_callback: EventCallback | None = None


def emit(name: str, step: int) -> None:
    """Tells the callback, if any, that training reached point ``name`` of step ``step``."""
    if _callback is not None:
        _callback(name, step)


@contextlib.contextmanager
def observed_by(callback: EventCallback | None):
    """``callback`` observes the events inside the block (None: the one already observing, if any)."""
    global _callback
    before = _callback
    _callback = callback if callback is not None else before
    try:
        yield
    finally:
        _callback = before
