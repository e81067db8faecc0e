"""Per-image detections -> COCO result dicts (spec 14.2), so any COCO tool can score our output.

bbox entries are ``[x, y, w, h]`` rounded to 0.1 pixel and masks are compressed RLE with ASCII
``counts``, exactly as the original ``--output_coco_json`` writes them, so the files are
interchangeable with the original's ``bbox_detections.json`` / ``mask_detections.json``.
"""
from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

BBOX_FILE = "bbox_detections.json"
MASK_FILE = "mask_detections.json"

ArrayLike = Any  # numpy array, torch CPU tensor or nested sequence


def to_numpy(x: ArrayLike) -> np.ndarray:
    """Accept numpy, torch (CPU or not) or lists without importing torch here."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def binarize(masks: np.ndarray) -> np.ndarray:
    """uint8 {0,1}: float masks are thresholded at 0.5 (as the original's ``gt_(0.5)``), others at != 0."""
    masks = np.asarray(masks)
    if masks.dtype.kind == "f":
        return (masks > 0.5).astype(np.uint8)
    return (masks != 0).astype(np.uint8)


def rle_to_json(rle: Mapping) -> dict:
    """Compressed RLE with ``counts`` as str, so it can go straight into JSON."""
    counts = rle["counts"]
    if isinstance(counts, bytes):
        counts = counts.decode("ascii")
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": counts}


def encode_masks(masks: ArrayLike) -> list[dict]:
    """[N,H,W] (or [H,W]) masks -> compressed RLEs with ``counts`` as str (JSON-ready).

    pycocotools wants an [H,W,N] Fortran-ordered uint8 array, so the whole batch is encoded in
    one call instead of one Python-level call per mask.
    """
    masks = binarize(to_numpy(masks))
    if masks.ndim == 2:
        masks = masks[None]
    if masks.ndim != 3:
        raise ValueError(f"masks must be [N,H,W] or [H,W], got shape {masks.shape}")
    if masks.shape[0] == 0:
        return []
    rles = mask_utils.encode(np.asfortranarray(masks.transpose(1, 2, 0)))
    return [rle_to_json(r) for r in rles]


def decode_rles(rles: Sequence[Mapping]) -> np.ndarray:
    """Compressed RLEs (str or bytes counts) -> [N,H,W] uint8; inverse of :func:`encode_masks`."""
    if len(rles) == 0:
        return np.zeros((0, 0, 0), np.uint8)
    fixed = [{"size": list(r["size"]), "counts": r["counts"].encode("ascii") if isinstance(r["counts"], str)
              else r["counts"]} for r in rles]
    with warnings.catch_warnings():  # pycocotools' Cython decode trips a numpy-2 copy= DeprecationWarning
        warnings.simplefilter("ignore", DeprecationWarning)
        decoded = mask_utils.decode(fixed)
    return np.ascontiguousarray(decoded.transpose(2, 0, 1))


def xyxy_to_xywh(boxes: ArrayLike, decimals: int = 1) -> np.ndarray:
    """[N,4] x1y1x2y2 pixels -> [N,4] x,y,w,h rounded to ``decimals`` (0.1 px like the original)."""
    b = to_numpy(boxes).astype(np.float64).reshape(-1, 4)
    xywh = np.concatenate([b[:, :2], b[:, 2:] - b[:, :2]], axis=1)
    return np.round(xywh, decimals)


def map_categories(classes: ArrayLike, category_ids: Sequence[int]) -> np.ndarray:
    """0-based contiguous class indices -> dataset category ids (the inverse label map)."""
    cls = to_numpy(classes).astype(np.int64).reshape(-1)
    lut = np.asarray(category_ids, dtype=np.int64)
    bad = cls[(cls < 0) | (cls >= lut.shape[0])]
    if bad.size:
        raise ValueError(
            f"class index {int(bad[0])} is outside category_ids (len {lut.shape[0]}); "
            "classes must be 0-based indices into category_ids"
        )
    return lut[cls]


def detections_to_coco(
    image_id: int,
    boxes: ArrayLike,
    scores: ArrayLike,
    classes: ArrayLike,
    category_ids: Sequence[int],
    masks: ArrayLike | Sequence[Mapping] | None = None,
    mask_scores: ArrayLike | None = None,
) -> tuple[list[dict], list[dict]]:
    """One image's detections -> (bbox entries, mask entries) in COCO result format.

    ``masks`` is either [N,H,W] full-resolution binary masks or N precomputed RLE dicts.
    ``mask_scores`` defaults to ``scores`` (the original can score masks separately).
    Detections whose box has no positive width and height are dropped from both lists, like the
    original, which only writes a detection when its box "makes sense".
    """
    b = to_numpy(boxes).astype(np.float64).reshape(-1, 4)
    s = to_numpy(scores).astype(np.float64).reshape(-1)
    cats = map_categories(classes, category_ids)
    ms = s if mask_scores is None else to_numpy(mask_scores).astype(np.float64).reshape(-1)
    n = b.shape[0]
    if not (s.shape[0] == cats.shape[0] == ms.shape[0] == n):
        raise ValueError(
            f"image {image_id}: boxes ({n}), scores ({s.shape[0]}), classes ({cats.shape[0]}) "
            f"and mask_scores ({ms.shape[0]}) must have the same length"
        )
    if masks is not None and len(masks) != n:
        raise ValueError(f"image {image_id}: got {len(masks)} masks for {n} boxes")

    keep = np.flatnonzero((b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1]))
    xywh = xyxy_to_xywh(b[keep])
    img = int(image_id)
    bbox_entries = [
        {"image_id": img, "category_id": int(c), "bbox": [float(v) for v in box], "score": float(sc)}
        for c, box, sc in zip(cats[keep], xywh, s[keep])
    ]
    if masks is None:
        return bbox_entries, []
    if isinstance(masks, Sequence) and (n == 0 or isinstance(masks[0], Mapping)):
        rles = [rle_to_json(masks[i]) for i in keep]
    else:
        rles = encode_masks(to_numpy(masks)[keep])
    mask_entries = [
        {"image_id": img, "category_id": int(c), "segmentation": r, "score": float(sc)}
        for c, r, sc in zip(cats[keep], rles, ms[keep])
    ]
    return bbox_entries, mask_entries


def write_coco_json(entries: Sequence[Mapping], path: str | os.PathLike) -> Path:
    """Write a COCO result list; parent folders are created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        json.dump(list(entries), f)
    return path


def write_detections(
    out_dir: str | os.PathLike, bbox_entries: Sequence[Mapping], mask_entries: Sequence[Mapping]
) -> tuple[Path, Path]:
    """Write ``bbox_detections.json`` and ``mask_detections.json`` (the original's file names)."""
    out = Path(out_dir)
    return write_coco_json(bbox_entries, out / BBOX_FILE), write_coco_json(mask_entries, out / MASK_FILE)


def load_coco_json(path: str | os.PathLike) -> list[dict]:
    """Read a COCO result list, with a clear error when the file holds something else."""
    with open(path) as f:
        data = json.load(f)
    if not isinstance(data, list):
        raise ValueError(f"{path}: a COCO result file must hold a JSON list, got {type(data).__name__}")
    return data
