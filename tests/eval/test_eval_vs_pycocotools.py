"""Our wrapper must give exactly what a direct pycocotools COCOeval call gives on the same data."""
from __future__ import annotations

import contextlib
import importlib.util
import io

import numpy as np
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from yolactedge.eval import METRIC_NAMES, detections_to_coco, evaluate_coco

H, W = 90, 120
CATS = [3, 17, 42]  # non-contiguous on purpose


def _rect(x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    m = np.zeros((H, W), np.uint8)
    m[y0:y1, x0:x1] = 1
    return m


def make_case(seed: int = 0) -> tuple[dict, list[dict]]:
    """Random GT (one crowd region) plus jittered, duplicated and spurious detections."""
    rng = np.random.default_rng(seed)
    images, anns, results = [], [], []
    for img in range(1, 5):
        images.append({"id": img, "height": H, "width": W, "file_name": f"{img}.jpg"})
        masks, classes = [], []
        for _ in range(int(rng.integers(1, 5))):
            x0, y0 = int(rng.integers(0, W - 45)), int(rng.integers(0, H - 45))
            x1, y1 = x0 + int(rng.integers(4, 45)), y0 + int(rng.integers(4, 45))
            m, c = _rect(x0, y0, x1, y1), int(rng.integers(0, 3))
            rle = mask_utils.encode(np.asfortranarray(m))
            anns.append({"id": len(anns) + 1, "image_id": img, "category_id": CATS[c],
                         "iscrowd": int(img == 2 and not masks), "area": float(mask_utils.area(rle)),
                         "bbox": mask_utils.toBbox(rle).tolist(),
                         "segmentation": {"size": rle["size"], "counts": rle["counts"].decode()}})
            masks.append(m)
            classes.append(c)
        det_masks, det_classes = [], []
        for m, c in zip(masks, classes):
            shifted = np.roll(m, (int(rng.integers(-2, 3)), int(rng.integers(-2, 3))), axis=(0, 1))
            det_masks += [shifted, m]
            det_classes += [c, int(rng.integers(0, 3))]
        det_masks.append(_rect(0, 0, 10, 10))
        det_classes.append(0)
        dm = np.stack(det_masks)
        ys, xs = dm.any(2), dm.any(1)
        boxes = np.stack([[x.argmax(), y.argmax(), W - x[::-1].argmax(), H - y[::-1].argmax()]
                          for x, y in zip(xs, ys)]).astype(np.float64)
        bb, mm = detections_to_coco(img, boxes, rng.random(len(dm)), det_classes, CATS, dm)
        results += bb + mm
    cats = [{"id": c, "name": f"c{c}"} for c in CATS]
    return {"images": images, "annotations": anns, "categories": cats}, results


def direct(gt: dict, results: list[dict], iou_type: str) -> COCOeval:
    key = "bbox" if iou_type == "bbox" else "segmentation"
    dts = [{k: r[k] for k in ("image_id", "category_id", "score", key)} for r in results if key in r]
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = {**gt, "annotations": [dict(a) for a in gt["annotations"]]}
        coco.createIndex()
        ev = COCOeval(coco, coco.loadRes(dts), iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


@pytest.mark.parametrize("seed", [0, 1])
def test_matches_direct_cocoeval(seed):
    gt, results = make_case(seed)
    ours = evaluate_coco(gt, results)
    for t in ("bbox", "segm"):
        ev = direct(gt, results, t)
        want = [v * 100 if v >= 0 else -1.0 for v in ev.stats]
        assert [ours[t][k] for k in METRIC_NAMES] == pytest.approx(want, abs=1e-9), t
        prec = ev.eval["precision"][:, :, :, 0, -1]
        for k, cid in enumerate(ev.params.catIds):
            p = prec[:, :, k]
            want_c = 100 * p[p > -1].mean() if (p > -1).any() else -1.0
            assert ours[t]["per_class"][f"c{cid}"] == pytest.approx(want_c, abs=1e-9)
    assert ours["segm"]["AP"] > 0  # the case is not degenerate


def test_inputs_not_mutated_and_quiet(capsys):
    gt, results = make_case(0)
    snapshot = (repr(gt), repr(results))
    evaluate_coco(gt, results)
    assert (repr(gt), repr(results)) == snapshot
    assert capsys.readouterr().out == ""


@pytest.mark.skipif(importlib.util.find_spec("faster_coco_eval") is None, reason="faster-coco-eval not installed")
def test_faster_coco_eval_backend_agrees():
    gt, results = make_case(0)
    a = evaluate_coco(gt, results)
    b = evaluate_coco(gt, results, backend="faster-coco-eval")
    for t in ("bbox", "segm"):
        assert [b[t][k] for k in METRIC_NAMES] == pytest.approx([a[t][k] for k in METRIC_NAMES], abs=1e-6)
        assert b[t]["per_class"] == pytest.approx(a[t]["per_class"], abs=1e-6)


def test_unknown_backend_is_a_clear_error():
    gt, results = make_case(0)
    with pytest.raises(ValueError, match="unknown backend"):
        evaluate_coco(gt, results, backend="nope")
