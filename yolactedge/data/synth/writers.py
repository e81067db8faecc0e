"""Byte-stable file writers: fixed encoder parameters and stable JSON, so same seed -> same bytes."""
from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np

JPEG_QUALITY = 92
PNG_COMPRESSION = 3
IMAGE_FORMATS = ("jpg", "png")


def check_image_format(image_format: str) -> str:
    fmt = image_format.lower().lstrip(".")
    fmt = "jpg" if fmt == "jpeg" else fmt
    if fmt not in IMAGE_FORMATS:
        raise ValueError(f"image_format must be one of {IMAGE_FORMATS}, got {image_format!r}")
    return fmt


def write_image(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Encode by extension (.jpg/.png/.ppm) with fixed parameters; raise if encoding fails."""
    path = Path(path)
    ext = path.suffix.lower()
    if ext in (".jpg", ".jpeg"):
        params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY, cv2.IMWRITE_JPEG_OPTIMIZE, 0,
                  cv2.IMWRITE_JPEG_PROGRESSIVE, 0]
    elif ext == ".png":
        params = [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION]
    elif ext in (".ppm", ".pnm"):
        params = [cv2.IMWRITE_PXM_BINARY, 1]
    else:
        raise ValueError(f"{path}: unsupported image extension {ext!r}")
    ok, buffer = cv2.imencode(ext, np.ascontiguousarray(image), params)
    if not ok:
        raise OSError(f"{path}: OpenCV could not encode the image")
    path.write_bytes(buffer.tobytes())
    return path


def write_json(path: str | os.PathLike, data: dict) -> Path:
    """Compact JSON with insertion key order (the writers build dicts in a fixed order)."""
    path = Path(path)
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    path.write_text(text + "\n", encoding="ascii")
    return path
