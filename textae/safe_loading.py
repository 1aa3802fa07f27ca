"""What textae accepts from files it did not write: weights only as safetensors, never as pickles.

A pickle (``pytorch_model.bin``, ``*.pt``, ``*.ckpt``) can run arbitrary code while it is read, so a
model folder that holds pickled weights and no safetensors file is refused before anything opens it.
Every ``from_pretrained`` of model weights in textae passes ``use_safetensors=True`` (transformers then
never falls back to ``torch.load``), recipes are read with ``yaml.safe_load``, no code is ever loaded
from a model folder (no ``trust_remote_code``), and the training states that must be pickles
(optimizer, LR schedule, RNG; see ``textae.training.loop``) are read by accelerate with
``torch.load(weights_only=True)``, which rebuilds tensors and plain containers only.
tests/reliability/test_untrusted.py checks each of these, and scans the sources for regressions.
"""

from __future__ import annotations

from pathlib import Path

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
SAFE_WEIGHTS = {"use_safetensors": True}  # for every from_pretrained that reads model weights


class UnsafeWeightsError(ValueError):
    """A model folder offers its weights only as a pickle."""


def refuse_pickled_weights(folder: str | Path) -> None:
    """Raises :class:`UnsafeWeightsError` when the local ``folder`` holds pickled weights and no
    ``*.safetensors`` file; does nothing for a folder with safetensors weights, or for a name that is
    not a local folder."""
    folder = Path(str(folder))
    if not folder.is_dir() or any(folder.glob("*.safetensors")) or any(folder.glob("*.safetensors.index.json")):
        return
    pickles = sorted(p.name for p in folder.iterdir() if p.is_file() and p.suffix in PICKLE_SUFFIXES)
    if pickles:
        raise UnsafeWeightsError(
            f"{folder} holds its weights only as a pickle ({', '.join(pickles)}); textae loads weights only from "
            "safetensors files, because unpickling a file can run any code in it. If you trust the file, convert "
            "it once: load it with transformers and save it again with save_pretrained (which writes model.safetensors)."
        )
