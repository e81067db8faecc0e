"""Seeds and sizes: every image/video/pair gets its own generator derived from (seed, keys).

Deriving sub-generators from a ``SeedSequence`` spawn key (instead of drawing from one shared
stream) means any single item can be regenerated on its own, and adding items to a split never
changes the items already there.
"""
from __future__ import annotations

from typing import Union

import numpy as np

SizeSpec = Union[int, tuple[int, int], tuple[tuple[int, int], tuple[int, int]]]

SPLIT_KEYS = {"train": 0, "val": 1}
FLOW_PAIRS_KEY = 2  # flow pairs are one sequence; their train/val split is by index


def sub_rng(seed: int, *keys: int) -> np.random.Generator:
    """A generator for one item, independent of all others: PCG64 seeded by (seed, keys)."""
    if int(seed) < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    sequence = np.random.SeedSequence(int(seed), spawn_key=tuple(int(k) for k in keys))
    return np.random.Generator(np.random.PCG64(sequence))


def split_key(split: str) -> int:
    if split not in SPLIT_KEYS:
        raise ValueError(f"unknown split {split!r}; expected one of {sorted(SPLIT_KEYS)}")
    return SPLIT_KEYS[split]


def _check_side(value: int, what: str) -> int:
    value = int(value)
    if value < 16:
        raise ValueError(f"image_size: {what} must be at least 16 pixels, got {value}")
    return value


def normalize_size(image_size: SizeSpec) -> tuple[tuple[int, int], tuple[int, int]]:
    """Turn ``384``, ``(H, W)`` or ``((hmin, hmax), (wmin, wmax))`` into a (height, width) range."""
    if isinstance(image_size, (int, np.integer)):
        side = _check_side(image_size, "side")
        return (side, side), (side, side)
    try:
        first, second = image_size  # type: ignore[misc]
    except (TypeError, ValueError):
        raise ValueError(
            f"image_size must be an int, (H, W) or ((hmin, hmax), (wmin, wmax)); got {image_size!r}"
        ) from None
    if isinstance(first, (int, np.integer)) and isinstance(second, (int, np.integer)):
        h, w = _check_side(first, "height"), _check_side(second, "width")
        return (h, h), (w, w)
    (hmin, hmax), (wmin, wmax) = first, second
    hmin, hmax = _check_side(hmin, "min height"), _check_side(hmax, "max height")
    wmin, wmax = _check_side(wmin, "min width"), _check_side(wmax, "max width")
    if hmin > hmax or wmin > wmax:
        raise ValueError(f"image_size range has min > max: {image_size!r}")
    return (hmin, hmax), (wmin, wmax)


def draw_size(rng: np.random.Generator, image_size: SizeSpec) -> tuple[int, int]:
    """Pick one (height, width) from a size spec (always consumes two draws, for stability)."""
    (hmin, hmax), (wmin, wmax) = normalize_size(image_size)
    h = int(rng.integers(hmin, hmax + 1))
    w = int(rng.integers(wmin, wmax + 1))
    return h, w
