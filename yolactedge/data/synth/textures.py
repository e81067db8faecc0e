"""Procedural textures (stripes, checker, noise, gradients, dots) and photo crops.

All patterns are built with whole-array numpy/cv2 operations and returned as float32 BGR in
[0, 255]; colours come from HSV so a class can own a hue range.
"""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

PATTERN_KINDS = ("flat", "stripes", "checker", "noise", "gradient", "dots")
PHOTO = "photo"


def hsv_colors(hsv: np.ndarray) -> np.ndarray:
    """[N,3] (hue degrees, sat 0..1, val 0..1) -> [N,3] float32 BGR in 0..255."""
    hsv = np.asarray(hsv, np.float32).reshape(1, -1, 3).copy()
    hsv[..., 0] = np.mod(hsv[..., 0], 360.0)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR).reshape(-1, 3) * 255.0


def random_color(
    rng: np.random.Generator,
    hue: float | None = None,
    hue_spread: float = 15.0,
    sat: tuple[float, float] = (0.35, 1.0),
    val: tuple[float, float] = (0.3, 1.0),
) -> np.ndarray:
    """One BGR colour; with ``hue`` given, its hue is drawn around that value."""
    h = rng.uniform(0, 360) if hue is None else hue + rng.uniform(-hue_spread, hue_spread)
    return hsv_colors([[h, rng.uniform(*sat), rng.uniform(*val)]])[0]


def _rotated_coords(h: int, w: int, angle: float) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    c, s = np.float32(np.cos(angle)), np.float32(np.sin(angle))
    return xs * c + ys * s, -xs * s + ys * c


def value_noise(rng: np.random.Generator, h: int, w: int, cell: float, octaves: int = 3) -> np.ndarray:
    """Smooth multi-octave noise in [0,1]: random grids upsampled with bicubic interpolation."""
    out = np.zeros((h, w), np.float32)
    amplitude, total = 1.0, 0.0
    for _ in range(octaves):
        gh, gw = max(2, int(np.ceil(h / cell)) + 1), max(2, int(np.ceil(w / cell)) + 1)
        grid = rng.random((gh, gw), dtype=np.float32)
        out += amplitude * cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
        total += amplitude
        amplitude *= 0.5
        cell = max(2.0, cell / 2)
    out /= total
    lo, hi = float(out.min()), float(out.max())
    return (out - lo) / max(hi - lo, 1e-6)


def pattern(rng: np.random.Generator, kind: str, h: int, w: int, scale: float) -> np.ndarray:
    """A [0,1] float32 HxW pattern; ``scale`` is its characteristic period in pixels."""
    scale = max(3.0, float(scale))
    if kind == "flat":
        return np.zeros((h, w), np.float32)
    if kind == "noise":
        return value_noise(rng, h, w, cell=scale, octaves=int(rng.integers(2, 5)))
    angle = rng.uniform(0, np.pi)
    u, v = _rotated_coords(h, w, angle)
    phase = rng.uniform(0, scale)
    if kind == "stripes":
        wave = np.sin((u + phase) * np.float32(2 * np.pi / scale))
        sharp = rng.uniform(1.0, 6.0)
        return np.clip(wave * sharp * 0.5 + 0.5, 0, 1)
    if kind == "checker":
        k = np.float32(np.pi / scale)
        return (np.sin((u + phase) * k) * np.sin((v + phase) * k) > 0).astype(np.float32)
    if kind == "dots":
        pu = np.mod(u + phase, scale) - scale / 2
        pv = np.mod(v + phase, scale) - scale / 2
        radius = scale * rng.uniform(0.2, 0.4)
        return (pu * pu + pv * pv < radius * radius).astype(np.float32)
    if kind == "gradient":
        if rng.random() < 0.5:
            return (u - u.min()) / max(float(np.ptp(u)), 1e-6)
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        r = np.sqrt((xs - cx) ** 2 + (ys - cy) ** 2)
        return r / max(float(r.max()), 1e-6)
    raise ValueError(f"unknown texture kind {kind!r}; expected one of {PATTERN_KINDS}")


def photo_crop(rng: np.random.Generator, photos: Sequence[np.ndarray], h: int, w: int) -> np.ndarray:
    """A randomly scaled, rotated and flipped crop of one photo, as float32 BGR HxW."""
    photo = photos[int(rng.integers(len(photos)))]
    ph, pw = photo.shape[:2]
    # scale so that the crop covers between 30% and 100% of the photo's shorter side
    scale = max(h, w) / (min(ph, pw) * rng.uniform(0.3, 1.0))
    angle = rng.uniform(-30, 30)
    center = (rng.uniform(0.3, 0.7) * pw, rng.uniform(0.3, 0.7) * ph)
    m = cv2.getRotationMatrix2D(center, angle, scale)
    m[:, 2] += (w / 2 - center[0], h / 2 - center[1])
    if rng.random() < 0.5:
        m[0] = -m[0]
        m[0, 2] += w - 1
    crop = cv2.warpAffine(photo, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
    return crop.astype(np.float32)


def colorize(p: np.ndarray, color_a: np.ndarray, color_b: np.ndarray) -> np.ndarray:
    """Blend two BGR colours by a [0,1] pattern -> HxWx3 float32."""
    return color_a[None, None, :] + p[..., None] * (color_b - color_a)[None, None, :]


def shade(rng: np.random.Generator, texture: np.ndarray, strength: float) -> np.ndarray:
    """Multiply by a linear light ramp (a lit side and a shadowed side), in place-safe."""
    h, w = texture.shape[:2]
    u, _ = _rotated_coords(h, w, rng.uniform(0, 2 * np.pi))
    ramp = (u - u.min()) / max(float(np.ptp(u)), 1e-6)
    light = 1.0 - strength + 2.0 * strength * ramp
    return texture * light[..., None]


def textured_fill(
    rng: np.random.Generator,
    kind: str,
    h: int,
    w: int,
    scale: float,
    color_a: np.ndarray,
    color_b: np.ndarray,
    photos: Sequence[np.ndarray] = (),
) -> np.ndarray:
    """One texture of the given kind; ``photo`` is tinted towards ``color_a`` to keep a class hue."""
    if kind == PHOTO:
        if not photos:
            kind = "noise"
        else:
            crop = photo_crop(rng, photos, h, w)
            tint = rng.uniform(0.2, 0.6)
            return crop * (1 - tint) + tint * color_a[None, None, :]
    return colorize(pattern(rng, kind, h, w, scale), color_a, color_b)
