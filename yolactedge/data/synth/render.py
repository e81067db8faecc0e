"""Compositing layers back to front into an image plus an owner map (which layer each pixel shows).

The owner map is what makes the annotations exact: an object's visible mask is simply
``owner == its layer index``, after every occluder has been drawn. Pixel centres are at integer
coordinates, as in OpenCV, for both the texture warp and the polygon fill.
"""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from yolactedge.data.synth.layers import Layer, translation

_SHIFT = 4  # fillPoly sub-pixel bits: vertices are placed to 1/16 pixel


def apply_affine(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Map [N,2] points by a 3x3 affine matrix."""
    return points @ matrix[:2, :2].T + matrix[:2, 2]


def _fixed(points: np.ndarray, x0: int, y0: int) -> np.ndarray:
    return np.round((points - (x0, y0)) * (1 << _SHIFT)).astype(np.int32).reshape(-1, 1, 2)


def _warp(texture: np.ndarray, matrix: np.ndarray, width: int, height: int) -> np.ndarray:
    return cv2.warpAffine(texture, matrix[:2], (width, height), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT101)


def render_layers(
    size: tuple[int, int], layers: Sequence[Layer], poses: Sequence[np.ndarray], with_areas: bool = False
) -> tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw ``layers[0]`` (the full-coverage background) then each object layer on top.

    Returns (image float32 HxWx3 BGR, owner int16 HxW with the index of the visible layer), plus
    with ``with_areas`` each layer's drawn area inside the image before occlusion (int64 [L]),
    so callers can tell how much of an object its occluders hide.
    """
    if len(layers) != len(poses):
        raise ValueError(f"{len(layers)} layers but {len(poses)} poses")
    if not layers or layers[0].outline is not None:
        raise ValueError("layers[0] must be a background layer (outline=None)")
    height, width = size
    image = _warp(layers[0].texture, layers[0].texture_matrix(poses[0]), width, height)
    owner = np.zeros((height, width), np.int16)
    areas = np.zeros(len(layers), np.int64)
    areas[0] = height * width
    for index in range(1, len(layers)):
        layer, pose = layers[index], poses[index]
        if layer.outline is None:
            raise ValueError(f"layer {index}: only layer 0 may be a background layer")
        polygons = [apply_affine(pose, p) for p in layer.outline.polygons]
        corners = np.concatenate(polygons)
        x0 = max(int(np.floor(corners[:, 0].min())) - 1, 0)
        y0 = max(int(np.floor(corners[:, 1].min())) - 1, 0)
        x1 = min(int(np.ceil(corners[:, 0].max())) + 2, width)
        y1 = min(int(np.ceil(corners[:, 1].max())) + 2, height)
        if x1 <= x0 or y1 <= y0:
            continue  # entirely outside the image
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillPoly(mask, [_fixed(p, x0, y0) for p in polygons], 1, cv2.LINE_8, _SHIFT)
        if layer.outline.holes:
            holes = [_fixed(apply_affine(pose, h), x0, y0) for h in layer.outline.holes]
            cv2.fillPoly(mask, holes, 0, cv2.LINE_8, _SHIFT)
        inside = mask.astype(bool)
        if not inside.any():
            continue
        matrix = translation(-x0, -y0) @ layer.texture_matrix(pose)
        patch = _warp(layer.texture, matrix, x1 - x0, y1 - y0)
        image[y0:y1, x0:x1][inside] = patch[inside]
        owner[y0:y1, x0:x1][inside] = index
        areas[index] = int(np.count_nonzero(inside))
    return (image, owner, areas) if with_areas else (image, owner)


def visible_masks(owner: np.ndarray, indices: Sequence[int]) -> np.ndarray:
    """[K,H,W] bool visible masks of the given layer indices."""
    if len(indices) == 0:
        return np.zeros((0,) + owner.shape, bool)
    return owner[None, :, :] == np.asarray(indices, owner.dtype)[:, None, None]
