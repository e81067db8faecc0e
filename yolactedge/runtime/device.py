"""Device selection that never fails on CPU-only machines."""
from __future__ import annotations

import logging

import torch

log = logging.getLogger(__name__)


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """'auto' -> CUDA when available, else CPU; an unavailable CUDA request falls back with a warning."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        log.warning("CUDA requested but not available (torch %s, CUDA build: %s); using CPU",
                    torch.__version__, torch.version.cuda)
        return torch.device("cpu")
    return dev
