"""Hand-computed COCO AP on a tiny two-image, two-class case (101-point interpolation).

Class a (id 1): GT A (img 1), C and D (img 2). Class b (id 2): GT B (img 1).
Detections: A at .9 (TP), A again at .8 (duplicate -> FP), C at .7 (TP), D labelled b at .6
(wrong class -> FP for b, miss for a), B at .5 (TP).
Every match has IoU 1 and every non-match IoU 0, so all ten thresholds agree:
  a: ranked TP FP TP over 3 GT -> recall 1/3, 1/3, 2/3, interpolated precision 1, 2/3, 2/3:
     34 recall points (0..0.33) at 1 and 33 (0.34..0.66) at 2/3 -> AP = (34 + 22) / 101 = 56/101
  b: ranked FP TP over 1 GT -> interpolated precision 1/2 at every recall point -> AP = 1/2
  AP = (56/101 + 1/2) / 2; AR = (2/3 + 1) / 2 for any maxDets.
"""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from yolactedge.eval import Evaluator, evaluate_coco

H = W = 100


def disk(cx: int, cy: int, r: int) -> np.ndarray:
    yy, xx = np.mgrid[:H, :W]
    return ((xx - cx) ** 2 + (yy - cy) ** 2 <= r * r).astype(np.uint8)


OBJ = {"A": (1, 0, disk(25, 25, 12)), "B": (1, 1, disk(70, 70, 15)),
       "C": (2, 0, disk(30, 30, 15)), "D": (2, 0, disk(75, 75, 10))}  # name -> (image, class, mask)


def box_xyxy(m: np.ndarray) -> np.ndarray:
    x, y, w, h = mask_utils.toBbox(mask_utils.encode(np.asfortranarray(m)))
    return np.array([x, y, x + w, y + h], np.float64)


def make_gt() -> dict:
    anns = []
    for i, (img, cls, m) in enumerate(OBJ.values()):
        rle = mask_utils.encode(np.asfortranarray(m))
        anns.append({"id": i + 1, "image_id": img, "category_id": cls + 1, "iscrowd": 0,
                     "area": float(mask_utils.area(rle)), "bbox": mask_utils.toBbox(rle).tolist(),
                     "segmentation": {"size": rle["size"], "counts": rle["counts"].decode()}})
    return {"images": [{"id": i, "height": H, "width": W, "file_name": f"{i}.jpg"} for i in (1, 2)],
            "annotations": anns, "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]}


def run(dets: dict[int, list[tuple[str, int, float]]], **kw) -> dict:
    """dets: image -> [(object whose mask/box is used, predicted class, score)]."""
    ev = Evaluator(make_gt(), category_ids=[1, 2], **kw)
    for img, items in dets.items():
        masks = np.stack([OBJ[o][2] for o, _, _ in items]) if items else np.zeros((0, H, W), np.uint8)
        boxes = np.stack([box_xyxy(m) for m in masks]) if items else np.zeros((0, 4))
        ev.add(img, boxes, [s for _, _, s in items], [c for _, c, _ in items], masks)
    return ev.compute()


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_perfect_detections_give_100(iou_type):
    m = run({1: [("A", 0, .9), ("B", 1, .8)], 2: [("C", 0, .7), ("D", 0, .6)]})[iou_type]
    for k in ("AP", "AP50", "AP75", "AR10", "AR100"):
        assert m[k] == pytest.approx(100.0), k
    # maxDets=1 is per image and class: image 2 can then return only one of its two class-a objects
    assert m["AR1"] == pytest.approx(100 * (2 / 3 + 1) / 2)
    assert m["per_class"] == pytest.approx({"a": 100.0, "b": 100.0})


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_duplicate_wrong_class_and_miss(iou_type):
    m = run({1: [("A", 0, .9), ("A", 0, .8), ("B", 1, .5)], 2: [("C", 0, .7), ("D", 1, .6)]})[iou_type]
    ap_a, ap_b = 56 / 101, 0.5
    for k in ("AP", "AP50", "AP75"):
        assert m[k] == pytest.approx(100 * (ap_a + ap_b) / 2), k
    for k in ("AR1", "AR10", "AR100"):
        assert m[k] == pytest.approx(100 * (2 / 3 + 1) / 2), k
    assert m["per_class"] == pytest.approx({"a": 100 * ap_a, "b": 100 * ap_b})


@pytest.mark.parametrize("backend", ["pycocotools", pytest.param("faster-coco-eval", marks=pytest.mark.skipif(
    importlib.util.find_spec("faster_coco_eval") is None, reason="faster-coco-eval not installed"))])
def test_half_found_with_perfect_precision(backend):
    # Only image 2 is scored (only it was added): class a has C and D, C found -> recall 1/2 at
    # precision 1 -> recall points 0..0.50 (51 of 101) at 1. Class b has no GT there: undefined.
    m = run({2: [("C", 0, .7)]}, backend=backend)
    for t in ("bbox", "segm"):
        assert m[t]["AP"] == pytest.approx(100 * 51 / 101)
        assert m[t]["AR100"] == pytest.approx(50.0)
        assert m[t]["per_class"] == pytest.approx({"a": 100 * 51 / 101, "b": -1.0})


def test_scoring_all_gt_images_counts_unseen_images_as_misses():
    m = run({2: [("C", 0, .7)]}, only_seen_images=False)["bbox"]
    # class a: 1 of 3 GT found at precision 1 -> 34/101; class b: its GT never detected -> 0
    assert m["AP"] == pytest.approx(100 * (34 / 101 + 0) / 2)
