"""Real photographs used as textures and backgrounds, loaded once per dataset.

Any folder works (searched recursively, sorted so the choice is reproducible); unreadable files
are skipped. Photos are downscaled so cropping them stays cheap.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import cv2
import numpy as np

from yolactedge.data.image_io import ImageReadError, is_image_file, read_image

DEFAULT_MAX_PHOTOS = 64
DEFAULT_MAX_SIDE = 640
MIN_SIDE = 32


def list_photo_files(texture_dir: str | os.PathLike) -> list[Path]:
    """All image files below ``texture_dir``, sorted by relative path."""
    root = Path(texture_dir)
    if not root.is_dir():
        raise FileNotFoundError(
            f"texture_dir {root} is not a folder; pass a folder of photos or texture_dir=None"
        )
    return sorted((p for p in root.rglob("*") if p.is_file() and is_image_file(p)),
                  key=lambda p: p.relative_to(root).as_posix())


def load_photos(
    texture_dir: str | os.PathLike | None,
    max_photos: int = DEFAULT_MAX_PHOTOS,
    max_side: int = DEFAULT_MAX_SIDE,
) -> tuple[list[np.ndarray], list[str]]:
    """Load up to ``max_photos`` photos (evenly spaced over the sorted list) as BGR uint8.

    Returns (images, relative names). ``texture_dir=None`` gives ([], []): textures are then
    fully procedural. A folder without readable images warns and falls back the same way.
    """
    if texture_dir is None:
        return [], []
    root = Path(texture_dir)
    files = list_photo_files(root)
    if len(files) > max_photos:
        picks = np.linspace(0, len(files) - 1, max_photos).round().astype(int)
        files = [files[i] for i in picks]
    images: list[np.ndarray] = []
    names: list[str] = []
    for path in files:
        try:
            image = read_image(path)
        except ImageReadError:
            continue
        h, w = image.shape[:2]
        if min(h, w) < MIN_SIDE:
            continue
        scale = max_side / max(h, w)
        if scale < 1.0:
            image = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))),
                               interpolation=cv2.INTER_AREA)
        images.append(image)
        names.append(path.relative_to(root).as_posix())
    if not images:
        warnings.warn(
            f"texture_dir {root} holds no readable images of at least {MIN_SIDE}px; "
            "using procedural textures only",
            stacklevel=2,
        )
    return images, names
