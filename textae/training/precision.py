"""Whether bf16 autocast pays off on the machine at hand.

On a CPU without bf16 instructions (AVX-512 BF16 or AMX), oneDNN emulates bf16 matrix products and
autocast runs far slower than fp32: a 4-layer 256-wide GPT-2 on an AVX2 EPYC core took 23 s a step in
bf16 against 1.5 s in fp32. A recipe written on a machine with native bf16 then silently trains at a
fifteenth of the speed, so the loop warns, and the benchmarks default to what the machine does well.
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import torch

_NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@functools.cache
def cpu_has_native_bf16() -> bool:
    """True when this CPU computes bf16 matrix products in hardware (oneDNN's own check, else the
    CPU flags in /proc/cpuinfo)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        pass
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return any(flag in flags for flag in _NATIVE_BF16_FLAGS)


def bf16_is_fast(on_cpu: bool) -> bool:
    """Whether bf16 autocast is worth turning on: a CUDA device with bf16, or a CPU with native bf16."""
    if not on_cpu and torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    return cpu_has_native_bf16()


def resolve_bf16(setting: bool | str, on_cpu: bool) -> bool:
    """``train.bf16`` as the loop applies it: ``"auto"`` turns it on where :func:`bf16_is_fast`."""
    if setting == "auto":
        return bf16_is_fast(on_cpu or not torch.cuda.is_available())
    return bool(setting)


def warn_if_bf16_is_emulated(bf16: bool, on_cpu: bool) -> bool:
    """Warns (and returns True) when bf16 autocast is asked for on a CPU that can only emulate it."""
    if not bf16 or not (on_cpu or not torch.cuda.is_available()) or cpu_has_native_bf16():
        return False
    warnings.warn(
        f"train.bf16 is on, but this CPU ({torch.backends.cpu.get_cpu_capability()}) has no bf16 instructions: "
        "autocast emulates bf16 matrix products and trains many times slower than fp32 "
        "(a 6M-parameter GPT-2: 23 s a step against 1.5 s). Set train.bf16=false on this machine.",
        RuntimeWarning,
        stacklevel=3,
    )
    return True
