"""Graceful preemption: SIGTERM (a cluster taking the machine back) or SIGINT (Ctrl-C) during training
finishes the optimizer step under way, writes a complete checkpoint and stops with
:data:`EXIT_PREEMPTED`; ``textae train ... --resume`` then ends bit-identical to an uninterrupted run.
A second signal exits at once (status 128 + signal number, as a shell reports a signal death).

Before the loop starts (data preparation, model building) there is nothing to save: a signal then
acts as it always does (SIGINT raises KeyboardInterrupt, SIGTERM ends the process). The loop arms the
handlers with :func:`arm` and asks :func:`requested` after each optimizer step.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading

# sysexits.h EX_TEMPFAIL, "temporary failure, the user is invited to retry": the run stopped cleanly
# and resumes with --resume; distinct from 128 + signal, which means killed without a checkpoint
EXIT_PREEMPTED = 75
SIGNALS = (signal.SIGTERM, signal.SIGINT)


class TrainingPreempted(Exception):
    """Training stopped on a signal after a complete checkpoint; resume continues it exactly."""

    def __init__(self, signal_name: str, step: int, checkpoint):
        self.signal_name, self.step, self.checkpoint = signal_name, step, checkpoint
        super().__init__(f"stopped by {signal_name} after step {step}; checkpoint {checkpoint} is complete; continue with --resume")


class _State:
    armed = False
    received: int | None = None
    previous: dict = {}


_state = _State()


def _exit_now(code: int) -> None:  # a seam for the tests
    os._exit(code)


def _handle(signum, frame) -> None:
    name = signal.Signals(signum).name
    if not _state.armed:  # outside the loop: what the signal would have done without textae
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        sys.stderr.write(f"textae: {name} before training started; exiting\n")
        sys.stderr.flush()
        _exit_now(128 + signum)
        return
    if _state.received is not None:
        sys.stderr.write(f"\ntextae: second {name}: exiting now, without a checkpoint of this step\n")
        sys.stderr.flush()
        _exit_now(128 + signum)
        return
    _state.received = signum
    sys.stderr.write(f"\ntextae: {name} received: finishing this step and writing a checkpoint (send it again to exit at once)\n")
    sys.stderr.flush()


@contextlib.contextmanager
def handlers():
    """Installs the SIGTERM / SIGINT handlers for one run (main thread only) and restores the old ones."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _state.armed, _state.received = False, None
    previous = {s: signal.signal(s, _handle) for s in SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        _state.armed, _state.received = False, None


def arm() -> None:
    """From now on a signal stops training after the current step instead of killing it."""
    _state.armed = True


def requested(accelerator=None) -> str | None:
    """The name of the signal that asked training to stop, or None. With several processes every
    process gets the same answer (one small all-reduce per step), so they stop at the same step."""
    local = _state.received
    if accelerator is not None and accelerator.num_processes > 1:
        import torch

        flag = torch.tensor([local or 0], device=accelerator.device)
        local = int(accelerator.reduce(flag, reduction="max").item()) or None
    return signal.Signals(local).name if local else None
