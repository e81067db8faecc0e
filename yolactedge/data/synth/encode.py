"""Binary masks to COCO segmentations: polygons that decode back to the same pixels, or RLE.

Polygons are traced on a 2x nearest-upsampled mask: the contour then runs a quarter pixel inside
the pixel edges, which pycocotools' rasteriser (pixel (x, y) covers [x, x+1) x [y, y+1)) maps
back to exactly the original pixels. Masks with holes cannot be polygons in COCO (polygons are
unioned), so those are written as RLE.
"""
from __future__ import annotations

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from yolactedge.data.coco import decode_rle

POLYGON_MIN_IOU = 0.95  # below this a polygon is not faithful enough: fall back to RLE


def mask_bbox(mask: np.ndarray) -> list[float]:
    """COCO [x, y, w, h] of the pixels in ``mask`` (pixel extents, so one pixel is 1x1)."""
    ys = np.flatnonzero(mask.any(axis=1))
    xs = np.flatnonzero(mask.any(axis=0))
    if ys.size == 0:
        return [0.0, 0.0, 0.0, 0.0]
    return [float(xs[0]), float(ys[0]), float(xs[-1] - xs[0] + 1), float(ys[-1] - ys[0] + 1)]


def mask_to_rle(mask: np.ndarray, compressed: bool = True) -> dict:
    """COCO RLE: compressed (``counts`` an ASCII string) or uncompressed (a list of run lengths)."""
    mask = np.asfortranarray(mask.astype(np.uint8))
    height, width = mask.shape
    if compressed:
        rle = mask_utils.encode(mask)
        return {"size": [int(height), int(width)], "counts": rle["counts"].decode("ascii")}
    flat = mask.ravel(order="F")
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(bounds).tolist()
    if flat.size and flat[0] == 1:
        runs = [0] + runs  # RLE always starts with a run of zeros
    return {"size": [int(height), int(width)], "counts": [int(r) for r in runs]}


def mask_to_polygons(mask: np.ndarray) -> list[list[float]] | None:
    """Polygons (flat [x0, y0, x1, y1, ...] lists) reproducing ``mask``; None if it has holes
    or the polygons would not decode back faithfully (then use RLE)."""
    ys = np.flatnonzero(mask.any(axis=1))
    xs = np.flatnonzero(mask.any(axis=0))
    if ys.size == 0:
        return None
    y0, y1, x0, x1 = ys[0], ys[-1] + 1, xs[0], xs[-1] + 1
    crop = np.pad(mask[y0:y1, x0:x1].astype(np.uint8), 1)
    up = cv2.resize(crop, None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)
    contours, hierarchy = cv2.findContours(up, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None or (hierarchy[0][:, 3] >= 0).any():
        return None  # has holes
    polygons = []
    for contour in contours:
        pts = contour.reshape(-1, 2).astype(np.float64)
        if len(pts) < 3:
            return None
        pts = (pts + 0.5) / 2.0 - 1.0 + (x0, y0)  # undo upsampling and padding
        polygons.append([round(float(v), 2) for v in pts.ravel()])
    height, width = mask.shape
    rle = mask_utils.merge(mask_utils.frPyObjects(polygons, height, width))
    decoded = decode_rle(rle)
    inter = np.count_nonzero(decoded & mask)
    union = np.count_nonzero(decoded | mask)
    return polygons if union and inter / union >= POLYGON_MIN_IOU else None


def mask_to_segmentation(mask: np.ndarray) -> dict | list:
    """Polygons when they are faithful, compressed RLE otherwise."""
    polygons = mask_to_polygons(mask)
    return polygons if polygons is not None else mask_to_rle(mask, compressed=True)
