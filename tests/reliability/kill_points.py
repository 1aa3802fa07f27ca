"""The fault tests' event callback: SIGKILL at one named point of the loop (see textae.training.events)."""

from __future__ import annotations

import os
import signal


def kill_at(point: str | None):
    """The callback that kills this process, with no cleanup and no flush, as a crash or a power cut
    would, when training reaches ``point`` ("NAME:STEP"); None for no point."""
    if not point:
        return None

    def on_event(name: str, step: int) -> None:
        if f"{name}:{step}" == point:
            os.kill(os.getpid(), signal.SIGKILL)

    return on_event
