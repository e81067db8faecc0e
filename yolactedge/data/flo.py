"""Middlebury ``.flo`` optical-flow files (the format FlyingChairs and Sintel ship).

Layout: float32 magic 202021.25, int32 width, int32 height, then H*W*2 float32 (u, v)
row-major, all little-endian. u is the x (column) displacement, v the y (row) one, in pixels.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from yolactedge.data.errors import DatasetError

FLO_MAGIC = np.float32(202021.25)
_HEADER_BYTES = 12


def write_flo(path: str | os.PathLike, flow: np.ndarray) -> Path:
    """Write an HxWx2 flow field (pixels) to ``path``; returns the path."""
    flow = np.asarray(flow)
    if flow.ndim != 3 or flow.shape[2] != 2 or min(flow.shape[:2]) == 0:
        raise ValueError(f"write_flo({path}): expected an HxWx2 array, got shape {flow.shape}")
    path = Path(path)
    height, width = flow.shape[:2]
    with open(path, "wb") as f:
        f.write(np.array([FLO_MAGIC], "<f4").tobytes())
        f.write(np.array([width, height], "<i4").tobytes())
        f.write(np.ascontiguousarray(flow, dtype="<f4").tobytes())
    return path


def read_flo(path: str | os.PathLike) -> np.ndarray:
    """Read a ``.flo`` file as an HxWx2 float32 array (u, v in pixels)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: flow file does not exist")
    data = path.read_bytes()
    if len(data) < _HEADER_BYTES:
        raise DatasetError(f"{path}: too short for a .flo file ({len(data)} bytes)")
    magic = np.frombuffer(data, "<f4", count=1)[0]
    if magic != FLO_MAGIC:
        raise DatasetError(
            f"{path}: not a Middlebury .flo file (magic {magic!r}, expected {float(FLO_MAGIC)}); "
            "big-endian or corrupt files are not supported"
        )
    width, height = (int(v) for v in np.frombuffer(data, "<i4", count=2, offset=4))
    expected = _HEADER_BYTES + width * height * 2 * 4
    if width <= 0 or height <= 0 or len(data) != expected:
        raise DatasetError(
            f"{path}: header says {width}x{height} ({expected} bytes expected) but the file has "
            f"{len(data)} bytes; the file is truncated or corrupt"
        )
    flow = np.frombuffer(data, "<f4", offset=_HEADER_BYTES).reshape(height, width, 2)
    return flow.astype(np.float32)
