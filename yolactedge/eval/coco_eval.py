"""COCO box / mask mAP through pycocotools (or faster-coco-eval), as the original's
``run_coco_eval.py`` route does (spec 14.1, last bullet).

Numbers come back as percentages (x100). A value of -1.0 means "undefined" (pycocotools'
convention: no ground truth in that area range / class), except that a run with no detections at
all reports zeros everywhere.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from .coco_json import detections_to_coco, write_detections

METRIC_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")
IOU_TYPES = ("bbox", "segm")
BACKENDS = ("pycocotools", "faster-coco-eval")


# ----------------------------------------------------------------------------- ground truth
def _segm_to_rle(segm: Any, h: int, w: int) -> dict:
    if isinstance(segm, list):  # polygons
        return mask_utils.merge(mask_utils.frPyObjects(segm, h, w))
    if isinstance(segm.get("counts"), list):  # uncompressed RLE
        return mask_utils.frPyObjects(segm, h, w)
    return segm


def load_coco_gt(gt: str | os.PathLike | Mapping[str, Any]) -> dict:
    """Load and check a COCO-style GT, filling ``id``/``iscrowd``/``area``/``bbox`` where missing.

    Custom datasets often omit ``area`` or ``iscrowd``; pycocotools then fails deep inside
    ``evaluate()``, so they are derived here. Inputs are never mutated (annotations are copied).
    """
    if isinstance(gt, (str, os.PathLike)):
        with open(gt) as f:
            data = json.load(f)
        where = str(gt)
    elif isinstance(gt, Mapping):
        data, where = gt, "ground truth"
    else:
        raise TypeError(f"gt must be a path or a COCO dict, got {type(gt).__name__}")
    missing = [k for k in ("images", "annotations", "categories") if k not in data]
    if missing:
        raise ValueError(f"{where}: not a COCO annotation file with GT, missing key(s) {missing}")

    images = {int(im["id"]): im for im in data["images"]}
    used_ids = {int(a["id"]) for a in data["annotations"] if "id" in a}
    next_id = max(used_ids, default=0) + 1
    anns = []
    for a in data["annotations"]:
        a = dict(a)
        if int(a["image_id"]) not in images:
            raise ValueError(f"{where}: annotation {a.get('id')} refers to image_id {a['image_id']}, "
                             "which is not in 'images'")
        if "id" not in a:
            a["id"], next_id = next_id, next_id + 1
        a.setdefault("iscrowd", 0)
        if ("area" not in a or "bbox" not in a) and a.get("segmentation"):
            im = images[int(a["image_id"])]
            rle = _segm_to_rle(a["segmentation"], int(im["height"]), int(im["width"]))
            a.setdefault("area", float(mask_utils.area(rle)))
            a.setdefault("bbox", [float(v) for v in mask_utils.toBbox(rle)])
        if "area" not in a and "bbox" in a:
            a["area"] = float(a["bbox"][2] * a["bbox"][3])
        anns.append(a)
    out = {k: v for k, v in data.items() if k != "annotations"}
    out["annotations"] = anns
    out["images"] = list(data["images"])
    out["categories"] = list(data["categories"])
    return out


# ----------------------------------------------------------------------------- results
def _split_results(results: Any, iou_types: Sequence[str]) -> dict[str, list[dict]]:
    """Per-IoU-type copies holding only the keys that type needs.

    pycocotools' ``loadRes`` picks its branch from the first entry and prefers ``bbox``: a combined
    entry would be scored as a box polygon in segm mode. Copies also keep the caller's dicts
    unmutated (``loadRes`` writes ``id``/``area`` into them).
    """
    key = {"bbox": "bbox", "segm": "segmentation"}
    out: dict[str, list[dict]] = {}
    for t in iou_types:
        if isinstance(results, Mapping):
            entries = results.get(t, [])
        else:
            entries = [r for r in results if key[t] in r]
        copied = []
        for i, r in enumerate(entries):
            try:
                copied.append({"image_id": int(r["image_id"]), "category_id": int(r["category_id"]),
                               "score": float(r["score"]), key[t]: r[key[t]]})
            except KeyError as e:
                raise ValueError(f"{t} result #{i} lacks the key {e}") from None
        out[t] = copied
    return out


def _check_results(res: dict[str, list[dict]], gt: dict) -> None:
    """Clear errors for the classic mistakes: wrong image ids, unmapped categories, swapped h/w."""
    images = {int(im["id"]): im for im in gt["images"]}
    cats = {int(c["id"]) for c in gt["categories"]}
    for t, entries in res.items():
        if not entries:
            continue
        img_ids = np.fromiter((r["image_id"] for r in entries), np.int64, len(entries))
        cat_ids = np.fromiter((r["category_id"] for r in entries), np.int64, len(entries))
        bad = sorted(set(np.unique(img_ids).tolist()) - images.keys())
        if bad:
            raise ValueError(f"{t} results reference image_id(s) not in the ground truth: {bad[:10]}"
                             f"{' ...' if len(bad) > 10 else ''}")
        bad = sorted(set(np.unique(cat_ids).tolist()) - cats)
        if bad:
            raise ValueError(f"{t} results use category_id(s) {bad[:10]} that the ground truth does not "
                             f"define (GT ids: {sorted(cats)[:10]}...); check the class -> category_id map")
        if t == "segm":
            for r in entries:
                if not isinstance(r["segmentation"], Mapping) or "size" not in r["segmentation"]:
                    raise ValueError(f"segm result for image_id {r['image_id']} is not an RLE dict "
                                     "({'size': [h, w], 'counts': ...})")
                im = images[r["image_id"]]
                size = [int(v) for v in r["segmentation"]["size"]]
                if size != [int(im["height"]), int(im["width"])]:
                    raise ValueError(f"segm result for image_id {r['image_id']} has mask size {size} (h, w) "
                                     f"but the image is {[im['height'], im['width']]}")


# ----------------------------------------------------------------------------- evaluation
def _backend_api(backend: str) -> tuple[type, type]:
    if backend == "pycocotools":
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
        return COCO, COCOeval
    if backend == "faster-coco-eval":
        try:
            from faster_coco_eval import COCO, COCOeval_faster
        except ImportError:
            raise ImportError("backend='faster-coco-eval' needs `pip install faster-coco-eval`") from None
        return COCO, COCOeval_faster
    raise ValueError(f"unknown backend {backend!r}; choose one of {BACKENDS}")


def _per_class_ap(precision: np.ndarray, cat_ids: Sequence[int], names: Mapping[int, str]) -> dict[str, float]:
    """AP per class over IoU 0.50:0.95, area 'all', last maxDets; -1 where the class has no GT."""
    p = precision[:, :, :, 0, -1]  # [T, R, K]
    valid = p > -1
    n = valid.sum(axis=(0, 1))
    ap = np.where(n > 0, np.where(valid, p, 0).sum(axis=(0, 1)) / np.maximum(n, 1) * 100, -1.0)
    return {names[int(c)]: float(v) for c, v in zip(cat_ids, ap)}


def _class_names(gt: dict) -> dict[int, str]:
    """Category id -> display name; duplicated or missing names get the id appended."""
    raw = {int(c["id"]): str(c.get("name", c["id"])) for c in gt["categories"]}
    counts: dict[str, int] = {}
    for n in raw.values():
        counts[n] = counts.get(n, 0) + 1
    return {i: (n if counts[n] == 1 else f"{n} ({i})") for i, n in raw.items()}


def _zeros(names: Mapping[int, str]) -> dict:
    out: dict[str, Any] = {k: 0.0 for k in METRIC_NAMES}
    out["per_class"] = {n: 0.0 for n in names.values()}
    return out


def evaluate_loaded(
    gt: dict,
    results: Any,
    iou_types: Sequence[str] = IOU_TYPES,
    *,
    backend: str = "pycocotools",
    image_ids: Collection[int] | None = None,
    verbose: bool = False,
) -> dict[str, dict]:
    """:func:`evaluate_coco` for a GT already passed through :func:`load_coco_gt` (no reload).

    pycocotools writes into the GT annotations it scores (``ignore``, polygons -> RLE), so ``gt``
    should be a loader-made copy the caller owns, as :class:`Evaluator` keeps.
    """
    unknown = [t for t in iou_types if t not in IOU_TYPES]
    if unknown:
        raise ValueError(f"unknown iou_types {unknown}; supported: {IOU_TYPES}")
    res = _split_results(results, iou_types)
    _check_results(res, gt)
    names = _class_names(gt)
    if image_ids is not None:
        image_ids = sorted({int(i) for i in image_ids})
        bad = sorted(set(image_ids) - {int(im["id"]) for im in gt["images"]})
        if bad:
            raise ValueError(f"image_ids not in the ground truth: {bad[:10]}")

    COCO, COCOeval = _backend_api(backend)
    quiet = contextlib.nullcontext() if verbose else contextlib.redirect_stdout(io.StringIO())
    out: dict[str, dict] = {}
    with quiet:
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        for t in iou_types:
            if not res[t] or image_ids == []:
                out[t] = _zeros(names)
                continue
            coco_dt = coco_gt.loadRes(res[t])
            kwargs = {"print_function": print} if backend == "faster-coco-eval" and verbose else {}
            ev = COCOeval(coco_gt, coco_dt, t, **kwargs)
            if image_ids is not None:
                ev.params.imgIds = image_ids
            if verbose:
                print(f"--- {t} ---")
            ev.evaluate()
            ev.accumulate()
            ev.summarize()
            stats = np.asarray(ev.stats[: len(METRIC_NAMES)], np.float64)
            metrics: dict[str, Any] = {k: float(v * 100 if v >= 0 else -1.0) for k, v in zip(METRIC_NAMES, stats)}
            metrics["per_class"] = _per_class_ap(np.asarray(ev.eval["precision"]), ev.params.catIds, names)
            out[t] = metrics
    return out


def evaluate_coco(
    gt: str | os.PathLike | Mapping[str, Any],
    results: Sequence[Mapping] | Mapping[str, Sequence[Mapping]],
    iou_types: Sequence[str] = IOU_TYPES,
    *,
    backend: str = "pycocotools",
    image_ids: Collection[int] | None = None,
    verbose: bool = False,
) -> dict[str, dict]:
    """COCO metrics per IoU type: ``{"bbox": {"AP": .., ..., "ARl": .., "per_class": {name: AP}}, "segm": ...}``.

    ``results`` is either one list (entries with ``bbox`` count for "bbox", entries with
    ``segmentation`` for "segm") or ``{"bbox": [...], "segm": [...]}``. ``image_ids`` restricts
    scoring to those images (e.g. the subset a validation run actually saw).
    """
    return evaluate_loaded(load_coco_gt(gt), results, iou_types, backend=backend, image_ids=image_ids,
                           verbose=verbose)


class Evaluator:
    """Accumulates detections image by image, RLE-encoding masks at once so that full-resolution
    masks never pile up in memory during a validation loop; scores everything in :meth:`compute`.

    ``category_ids[i]`` is the dataset category id of class index ``i``; by default the GT's
    category ids in ascending order (what the original's COCO label map amounts to).
    By default only images passed to :meth:`add` are scored, so a partial run (``max_images``)
    is not charged for images it never looked at, as in the original.
    """

    def __init__(
        self,
        gt: str | os.PathLike | Mapping[str, Any],
        category_ids: Sequence[int] | None = None,
        iou_types: Sequence[str] = IOU_TYPES,
        *,
        backend: str = "pycocotools",
        only_seen_images: bool = True,
    ) -> None:
        self.gt = load_coco_gt(gt)
        self.category_ids = list(category_ids) if category_ids is not None else sorted(
            int(c["id"]) for c in self.gt["categories"])
        self.iou_types = tuple(iou_types)
        self.backend = backend
        self.only_seen_images = only_seen_images
        self._image_ids = {int(im["id"]) for im in self.gt["images"]}
        self.reset()

    def reset(self) -> None:
        self.bbox_results: list[dict] = []
        self.segm_results: list[dict] = []
        self.seen: set[int] = set()

    def __len__(self) -> int:
        return len(self.seen)

    def add(self, image_id: int, boxes: Any, scores: Any, classes: Any, masks: Any = None,
            mask_scores: Any = None) -> None:
        """Record one image's detections (boxes xyxy pixels, 0-based classes, [N,H,W] masks or RLEs)."""
        image_id = int(image_id)
        if image_id not in self._image_ids:
            raise ValueError(f"image_id {image_id} is not in the ground truth")
        if image_id in self.seen:
            raise ValueError(f"image_id {image_id} was already added; call add() once per image")
        if masks is None and "segm" in self.iou_types:
            raise ValueError("masks are required when 'segm' is in iou_types (pass iou_types=('bbox',) "
                             "for a box-only model)")
        bb, mm = detections_to_coco(image_id, boxes, scores, classes, self.category_ids, masks, mask_scores)
        self.bbox_results.extend(bb)
        self.segm_results.extend(mm)
        self.seen.add(image_id)

    @property
    def results(self) -> dict[str, list[dict]]:
        return {"bbox": self.bbox_results, "segm": self.segm_results}

    def compute(self, verbose: bool = False) -> dict[str, dict]:
        ids = self.seen if self.only_seen_images else None
        return evaluate_loaded(self.gt, self.results, self.iou_types, backend=self.backend, image_ids=ids,
                               verbose=verbose)

    def write_json(self, out_dir: str | os.PathLike) -> tuple[Path, Path]:
        """Write the original's ``bbox_detections.json`` / ``mask_detections.json``."""
        return write_detections(out_dir, self.bbox_results, self.segm_results)

