"""Layers: a textured sprite plus an outline, placed in an image by a 3x3 affine pose.

Every moving thing (background, objects, clutter) is a layer. Because a layer's appearance is a
fixed sprite and its placement is an affine matrix, exact optical flow between two poses is
known in closed form (see ``flow_field.py``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from yolactedge.data.synth.shapes import SHAPE_CLASSES, Outline, blob_outline, make_outline
from yolactedge.data.synth.textures import (
    PATTERN_KINDS,
    PHOTO,
    photo_crop,
    random_color,
    shade,
    textured_fill,
    value_noise,
)

SIGNATURE_TEXTURE_PROB = 0.7
SIGNATURE_HUE_PROB = 0.75


@dataclass
class Layer:
    """A sprite (float32 BGR) and, for objects, the outline that cuts it out.

    ``origin`` is the sprite pixel where outline coordinate (0, 0) lies. ``outline=None`` means
    the layer covers the whole image (the background). ``label`` is the 0-based class index, or
    -1 for layers that are not annotated.
    """

    texture: np.ndarray
    outline: Optional[Outline]
    origin: tuple[float, float]
    label: int = -1

    def texture_matrix(self, pose: np.ndarray) -> np.ndarray:
        """Pose (outline coords -> image) composed with sprite pixel -> outline coords."""
        return pose @ translation(-self.origin[0], -self.origin[1])


def translation(tx: float, ty: float) -> np.ndarray:
    return np.array([[1.0, 0.0, tx], [0.0, 1.0, ty], [0.0, 0.0, 1.0]])


def similarity(tx: float, ty: float, angle: float, scale: float = 1.0,
               scale_y: float | None = None) -> np.ndarray:
    """Scale (about the origin), then rotate by ``angle`` radians, then translate to (tx, ty)."""
    sy = scale if scale_y is None else scale_y
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c * scale, -s * sy, tx], [s * scale, c * sy, ty], [0.0, 0.0, 1.0]])


def about_point(matrix: np.ndarray, cx: float, cy: float) -> np.ndarray:
    """Apply ``matrix`` about (cx, cy) instead of about the origin."""
    return translation(cx, cy) @ matrix @ translation(-cx, -cy)


def _sprite_for(outline: Outline, rng: np.random.Generator, fill) -> tuple[np.ndarray, tuple[float, float]]:
    ex, ey = outline.extent()
    sw, sh = int(np.ceil(2 * ex)) + 4, int(np.ceil(2 * ey)) + 4
    return fill(sh, sw), (sw / 2.0, sh / 2.0)


def make_object_layer(
    rng: np.random.Generator,
    label: int,
    width: float,
    height: float,
    photos: Sequence[np.ndarray] = (),
) -> Layer:
    """An object of class ``label`` with a ``width`` x ``height`` bounding size (unrotated)."""
    shape = SHAPE_CLASSES[label]
    outline = make_outline(shape.name, rng, width, height)
    if rng.random() < SIGNATURE_TEXTURE_PROB:
        kind = str(rng.choice(shape.textures))
    else:
        kinds = PATTERN_KINDS + ((PHOTO,) if photos else ())
        kind = str(rng.choice(kinds))
    hue = shape.hue if rng.random() < SIGNATURE_HUE_PROB else None
    color_a = random_color(rng, hue, sat=(0.45, 1.0), val=(0.35, 1.0))
    color_b = random_color(rng, None if hue is None else hue + 180.0 * rng.integers(0, 2),
                           hue_spread=40.0, sat=(0.1, 1.0), val=(0.05, 1.0))
    period = rng.uniform(0.1, 0.4) * min(width, height)
    shading = rng.uniform(0.05, 0.3)

    def fill(h: int, w: int) -> np.ndarray:
        return shade(rng, textured_fill(rng, kind, h, w, period, color_a, color_b, photos), shading)

    texture, origin = _sprite_for(outline, rng, fill)
    return Layer(texture, outline, origin, label)


def make_clutter_layer(
    rng: np.random.Generator, width: float, height: float, photos: Sequence[np.ndarray] = ()
) -> Layer:
    """An unannotated blob with a random texture (hard negatives for the detector)."""
    outline = blob_outline(rng, width, height)
    kinds = PATTERN_KINDS + ((PHOTO,) if photos else ())
    kind = str(rng.choice(kinds))
    color_a, color_b = random_color(rng), random_color(rng)
    period = rng.uniform(0.1, 0.5) * min(width, height)

    def fill(h: int, w: int) -> np.ndarray:
        return textured_fill(rng, kind, h, w, period, color_a, color_b, photos)

    texture, origin = _sprite_for(outline, rng, fill)
    return Layer(texture, outline, origin, -1)


def make_background_layer(
    rng: np.random.Generator, height: int, width: int, photos: Sequence[np.ndarray] = ()
) -> Layer:
    """A full-coverage background texture of ``height`` x ``width`` sprite pixels.

    Photos (when given) are used most of the time; otherwise a muted low-frequency noise base
    with a faint overlaid pattern, like a floor, wall or table.
    """
    if photos and rng.random() < 0.65:
        texture = photo_crop(rng, photos, height, width)
        texture *= rng.uniform(0.7, 1.1)
    else:
        base_a = random_color(rng, sat=(0.0, 0.5), val=(0.15, 0.8))
        base_b = random_color(rng, sat=(0.0, 0.5), val=(0.15, 0.8))
        cell = rng.uniform(0.15, 0.6) * min(height, width)
        noise = value_noise(rng, height, width, cell=cell, octaves=4)
        texture = base_a[None, None, :] + noise[..., None] * (base_b - base_a)[None, None, :]
        kind = str(rng.choice(("stripes", "checker", "dots", "noise", "gradient")))
        over = textured_fill(rng, kind, height, width, rng.uniform(6, 40),
                             random_color(rng, sat=(0.0, 0.4)), random_color(rng, sat=(0.0, 0.4)))
        alpha = np.float32(rng.uniform(0.08, 0.35))
        texture = texture * (1 - alpha) + over * alpha
    texture = shade(rng, texture.astype(np.float32), rng.uniform(0.0, 0.25))
    return Layer(texture, None, (0.0, 0.0), -1)
