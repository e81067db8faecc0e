"""Safe file I/O for weights: atomic writes, and loads that can never run code."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch


class CheckpointError(ValueError):
    """A weights file is missing, unreadable or does not fit the model."""


def save_atomic(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` to a temporary file in the same folder, fsync, then rename over ``path``.

    An interrupted write (Ctrl-C, crash, full disk) leaves the previous file intact.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(obj, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_weights_file(path: str | os.PathLike) -> Any:
    """``torch.load(..., weights_only=True)`` on CPU with errors that say what to do."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: weights file does not exist")
    if path.is_dir():
        raise CheckpointError(f"{path}: is a folder; pass the .pth/.pt file (or load an exported folder with the engine API)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - re-raised with context
        text = str(exc)
        if "Unsupported global" in text or "Unsupported class" in text:
            raise CheckpointError(
                f"{path}: refused to load: the file contains Python objects beyond tensors and plain "
                "containers, which could run code. Re-save it as a plain state dict "
                "(torch.save(model.state_dict(), ...)) from a trusted environment."
            ) from exc
        raise CheckpointError(f"{path}: not a readable PyTorch weights file ({type(exc).__name__}: {text[:200]})") from exc
