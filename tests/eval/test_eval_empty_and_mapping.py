"""No detections, category-id mapping with non-contiguous ids, and the error messages users see."""
from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from yolactedge.eval import METRIC_NAMES, Evaluator, evaluate_coco

H, W = 30, 40
CATS = [{"id": 3, "name": "cat"}, {"id": 17, "name": "dog"}, {"id": 42, "name": "cow"}]


def rect(x0, y0, x1, y1) -> np.ndarray:
    m = np.zeros((H, W), np.uint8)
    m[y0:y1, x0:x1] = 1
    return m


OBJECTS = [(1, 3, rect(2, 2, 12, 10)), (1, 42, rect(20, 5, 35, 25)), (2, 17, rect(5, 5, 15, 20))]


def make_gt(minimal: bool = False) -> dict:
    """GT; ``minimal`` leaves out id/area/bbox/iscrowd, which the loader must derive."""
    anns = []
    for i, (img, cat, m) in enumerate(OBJECTS):
        rle = mask_utils.encode(np.asfortranarray(m))
        segm = {"size": rle["size"], "counts": rle["counts"].decode()}
        a = {"image_id": img, "category_id": cat, "segmentation": segm}
        if not minimal:
            a.update(id=i + 1, iscrowd=0, area=float(mask_utils.area(rle)), bbox=mask_utils.toBbox(rle).tolist())
        anns.append(a)
    return {"images": [{"id": i, "height": H, "width": W} for i in (1, 2)], "annotations": anns, "categories": CATS}


def add_perfect(ev: Evaluator, class_of: dict[int, int]) -> None:
    for img in (1, 2):
        objs = [(c, m) for i, c, m in OBJECTS if i == img]
        masks = np.stack([m for _, m in objs])
        boxes = np.stack([[m.any(0).argmax(), m.any(1).argmax(), W - m.any(0)[::-1].argmax(),
                           H - m.any(1)[::-1].argmax()] for m in masks])
        ev.add(img, boxes, np.linspace(0.9, 0.5, len(objs)), [class_of[c] for c, _ in objs], masks)


def test_empty_results_are_all_zero():
    for results in ([], {"bbox": [], "segm": []}):
        m = evaluate_coco(make_gt(), results)
        for t in ("bbox", "segm"):
            assert all(m[t][k] == 0.0 for k in METRIC_NAMES)
            assert m[t]["per_class"] == {"cat": 0.0, "dog": 0.0, "cow": 0.0}


def test_evaluator_with_no_detections_or_no_images():
    ev = Evaluator(make_gt())
    assert ev.compute()["segm"]["AP"] == 0.0  # nothing added at all
    ev.add(1, np.zeros((0, 4)), [], [], np.zeros((0, H, W), np.uint8))
    assert all(ev.compute()["bbox"][k] == 0.0 for k in METRIC_NAMES)


def test_non_contiguous_category_ids_default_and_explicit():
    # default map = GT ids sorted: class 0 -> 3, 1 -> 17, 2 -> 42
    ev = Evaluator(make_gt())
    add_perfect(ev, {3: 0, 17: 1, 42: 2})
    m = ev.compute()
    assert m["bbox"]["AP"] == pytest.approx(100.0) and m["segm"]["AP"] == pytest.approx(100.0)
    # a custom order: class 0 -> 42, 1 -> 3, 2 -> 17
    ev = Evaluator(make_gt(), category_ids=[42, 3, 17])
    add_perfect(ev, {42: 0, 3: 1, 17: 2})
    assert ev.compute()["segm"]["per_class"] == pytest.approx({"cat": 100.0, "dog": 100.0, "cow": 100.0})
    # the wrong map scores zero, rather than silently something else
    ev = Evaluator(make_gt(), category_ids=[42, 3, 17])
    add_perfect(ev, {3: 0, 17: 1, 42: 2})
    assert ev.compute()["segm"]["AP"] == 0.0


def test_minimal_gt_fields_are_derived():
    ev = Evaluator(make_gt(minimal=True))
    add_perfect(ev, {3: 0, 17: 1, 42: 2})
    assert ev.compute()["bbox"]["AP"] == pytest.approx(100.0)


def test_clear_errors():
    gt = make_gt()
    ok = {"image_id": 1, "category_id": 3, "bbox": [0, 0, 5, 5], "score": 0.5}
    with pytest.raises(ValueError, match=r"image_id\(s\) not in the ground truth: \[99\]"):
        evaluate_coco(gt, [{**ok, "image_id": 99}])
    with pytest.raises(ValueError, match=r"category_id\(s\) \[5\]"):
        evaluate_coco(gt, [{**ok, "category_id": 5}])
    with pytest.raises(ValueError, match="lacks the key 'score'"):
        evaluate_coco(gt, [{k: v for k, v in ok.items() if k != "score"}])
    seg = {"image_id": 1, "category_id": 3, "score": 0.5,
           "segmentation": {"size": [W, H], "counts": "abc"}}  # h and w swapped
    with pytest.raises(ValueError, match=r"mask size \[40, 30\]"):
        evaluate_coco(gt, [seg], iou_types=("segm",))
    with pytest.raises(ValueError, match="unknown iou_types"):
        evaluate_coco(gt, [ok], iou_types=("keypoints",))
    with pytest.raises(ValueError, match="missing key"):
        evaluate_coco({"images": []}, [ok])
    ev = Evaluator(gt)
    with pytest.raises(ValueError, match="image_id 7 is not in the ground truth"):
        ev.add(7, np.zeros((0, 4)), [], [], np.zeros((0, H, W)))
    with pytest.raises(ValueError, match="class index 3 is outside category_ids"):
        ev.add(1, [[0, 0, 4, 4]], [0.5], [3], np.ones((1, H, W)))
    with pytest.raises(ValueError, match="masks are required"):
        ev.add(1, [[0, 0, 4, 4]], [0.5], [0])
    ev.add(1, np.zeros((0, 4)), [], [], np.zeros((0, H, W)))
    with pytest.raises(ValueError, match="already added"):
        ev.add(1, np.zeros((0, 4)), [], [], np.zeros((0, H, W)))


def test_box_only_evaluator():
    ev = Evaluator(make_gt(), iou_types=("bbox",))
    ev.add(2, [[5, 5, 15, 20]], [0.9], [1])
    m = ev.compute()
    assert list(m) == ["bbox"] and m["bbox"]["AP"] == pytest.approx(100.0)
