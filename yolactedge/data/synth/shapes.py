"""The synthetic object classes: each has its own outline and a signature hue and textures.

Outlines are polygons in object pixel coordinates centred on (0, 0), so the same geometry can be
filled at any affine pose. A class is recognisable from its shape alone, and most of the time
also from its texture and colour (a fraction of objects get random textures, so the texture is
a hint, not a give-away).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ShapeClass:
    name: str
    category_id: int  # deliberately non-contiguous (odd numbers), as in COCO
    hue: float  # signature hue in degrees
    textures: tuple[str, ...]  # signature texture kinds
    aspect: tuple[float, float]  # width / height range (drawn log-uniformly)


SHAPE_CLASSES: tuple[ShapeClass, ...] = (
    ShapeClass("circle", 1, 0.0, ("stripes", "gradient"), (1.0, 1.0)),
    ShapeClass("rectangle", 3, 35.0, ("checker", "flat"), (0.35, 2.8)),
    ShapeClass("triangle", 5, 60.0, ("noise", "stripes"), (0.7, 1.5)),
    ShapeClass("star", 7, 120.0, ("dots", "flat"), (0.85, 1.2)),
    ShapeClass("capsule", 9, 180.0, ("gradient", "noise"), (2.0, 4.0)),
    ShapeClass("hexagon", 11, 220.0, ("checker", "dots"), (0.8, 1.25)),
    ShapeClass("ring", 13, 270.0, ("stripes", "noise"), (0.8, 1.25)),
    ShapeClass("cross", 15, 320.0, ("flat", "checker"), (0.75, 1.35)),
)

CLASS_NAMES: tuple[str, ...] = tuple(c.name for c in SHAPE_CLASSES)
CATEGORY_IDS: tuple[int, ...] = tuple(c.category_id for c in SHAPE_CLASSES)


@dataclass(frozen=True)
class Outline:
    """Filled polygons minus hole polygons, in object pixel coordinates (x, y) around (0, 0)."""

    polygons: tuple[np.ndarray, ...]
    holes: tuple[np.ndarray, ...] = ()

    def extent(self) -> tuple[float, float]:
        pts = np.concatenate(self.polygons)
        return float(np.abs(pts[:, 0]).max()), float(np.abs(pts[:, 1]).max())


def _ellipse(rx: float, ry: float, cx: float = 0.0, cy: float = 0.0,
             start: float = 0.0, stop: float = 2 * np.pi, closed: bool = True) -> np.ndarray:
    n = int(np.clip(np.pi * (rx + ry) / 3.0 * (stop - start) / (2 * np.pi), 12, 120))
    t = np.linspace(start, stop, n, endpoint=not closed)
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)


def _regular(n: int, rx: float, ry: float, phase: float) -> np.ndarray:
    t = phase + np.arange(n) * 2 * np.pi / n
    return np.stack([rx * np.cos(t), ry * np.sin(t)], axis=1)


def make_outline(name: str, rng: np.random.Generator, width: float, height: float) -> Outline:
    """The outline of one object of class ``name`` with a ``width`` x ``height`` bounding size."""
    rx, ry = width / 2.0, height / 2.0
    if name == "circle":
        return Outline((_ellipse(rx, ry),))
    if name == "rectangle":
        return Outline((np.array([[-rx, -ry], [rx, -ry], [rx, ry], [-rx, ry]]),))
    if name == "triangle":
        apex = rng.uniform(-0.6, 0.6) * rx
        return Outline((np.array([[apex, -ry], [rx, ry], [-rx, ry]]),))
    if name == "star":
        points = int(rng.integers(5, 8))
        inner = rng.uniform(0.38, 0.55)
        t = -np.pi / 2 + np.arange(2 * points) * np.pi / points
        radius = np.where(np.arange(2 * points) % 2 == 0, 1.0, inner)
        return Outline((np.stack([rx * radius * np.cos(t), ry * radius * np.sin(t)], axis=1),))
    if name == "capsule":
        r = min(rx, ry)
        half = max(rx - r, 0.0)
        right = _ellipse(r, r, half, 0.0, -np.pi / 2, np.pi / 2, closed=False)
        left = _ellipse(r, r, -half, 0.0, np.pi / 2, 3 * np.pi / 2, closed=False)
        return Outline((np.concatenate([right, left]),))
    if name == "hexagon":
        return Outline((_regular(6, rx, ry, rng.choice([0.0, np.pi / 6])),))
    if name == "ring":
        inner = rng.uniform(0.45, 0.7)
        return Outline((_ellipse(rx, ry),), (_ellipse(rx * inner, ry * inner),))
    if name == "cross":
        tx, ty = rx * rng.uniform(0.25, 0.45), ry * rng.uniform(0.25, 0.45)
        pts = [[-tx, -ry], [tx, -ry], [tx, -ty], [rx, -ty], [rx, ty], [tx, ty],
               [tx, ry], [-tx, ry], [-tx, ty], [-rx, ty], [-rx, -ty], [-tx, -ty]]
        return Outline((np.array(pts, np.float64),))
    raise ValueError(f"unknown shape class {name!r}; expected one of {CLASS_NAMES}")


def blob_outline(rng: np.random.Generator, width: float, height: float) -> Outline:
    """An unannotated amoeba-like blob (clutter), so not everything in an image is an object.

    Smooth and clearly non-convex (radius modulated by 2-5 random low harmonics), so it cannot
    pass for one of the classes: random straight-edged polygons (the first design) looked like
    triangles and rectangles, and a detector learnt to call those background.
    """
    t = np.linspace(0.0, 2 * np.pi, 96, endpoint=False)
    radius = np.ones_like(t)
    for k in rng.choice(np.arange(2, 6), size=int(rng.integers(2, 4)), replace=False):
        radius += rng.uniform(0.12, 0.22) * np.cos(k * t + rng.uniform(0, 2 * np.pi))
    radius = np.clip(radius, 0.35, None) / radius.max()
    return Outline((np.stack([width / 2 * radius * np.cos(t), height / 2 * radius * np.sin(t)], axis=1),))


def draw_object_size(
    rng: np.random.Generator, shape: ShapeClass, size: float
) -> tuple[float, float]:
    """(width, height) with geometric mean ``size`` and a class-appropriate aspect ratio."""
    lo, hi = shape.aspect
    aspect = float(np.exp(rng.uniform(np.log(lo), np.log(hi)))) if hi > lo else lo
    return size * np.sqrt(aspect), size / np.sqrt(aspect)
