"""Reading images defensively: every failure names the file and says what to do."""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm", ".jp2"}
)


class ImageReadError(ValueError):
    """An input image could not be read or converted."""


def is_image_file(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def to_bgr_uint8(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Convert grayscale / BGRA / 16-bit / float images to HxWx3 uint8 BGR; reject anything else.

    Float images are taken as [0,1] if their max is <= 1, else as [0,255].
    """
    if not isinstance(image, np.ndarray):
        raise ImageReadError(f"{name}: expected a numpy array, got {type(image).__name__}")
    arr = image
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)) or min(arr.shape[:2]) == 0:
        raise ImageReadError(
            f"{name}: unsupported image shape {tuple(image.shape)} (dtype {image.dtype}); "
            "expected HxW (grayscale), HxWx3 (BGR) or HxWx4 (BGRA)"
        )
    if arr.dtype == np.uint8:
        pass
    elif arr.dtype == np.uint16:
        arr = (arr.astype(np.float32) / 257.0).round().astype(np.uint8)
    elif arr.dtype in (np.float32, np.float64, np.float16):
        if not np.isfinite(arr).all():
            raise ImageReadError(f"{name}: float image contains NaN or inf values")
        scale = 255.0 if float(arr.max(initial=0.0)) <= 1.0 else 1.0
        arr = np.clip(arr.astype(np.float32) * scale, 0, 255).round().astype(np.uint8)
    elif arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    else:
        raise ImageReadError(
            f"{name}: unsupported dtype {image.dtype} (shape {tuple(image.shape)}); "
            "expected uint8, uint16 or float in [0,1]/[0,255]"
        )
    if arr.ndim == 2:
        arr = cv2.cvtColor(arr, cv2.COLOR_GRAY2BGR)
    elif arr.shape[2] == 4:
        arr = cv2.cvtColor(arr, cv2.COLOR_BGRA2BGR)
    return np.ascontiguousarray(arr)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as HxWx3 uint8 BGR, converting grayscale/RGBA/16-bit inputs."""
    path = Path(path)
    if not path.exists():
        raise ImageReadError(f"{path}: file does not exist")
    if path.is_dir():
        raise ImageReadError(f"{path}: is a folder, not an image file")
    data = np.fromfile(str(path), dtype=np.uint8)  # works with non-ASCII paths, unlike cv2.imread
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise ImageReadError(f"{path}: not a readable image (unknown format or corrupt file)")
    return to_bgr_uint8(image, name=str(path))
