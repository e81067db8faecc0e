"""COCO result conversion: RLE round trip, bbox rounding, zero-area skipping, JSON files."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from yolactedge.eval import (decode_rles, detections_to_coco, encode_masks, load_coco_json, write_detections,
                             xyxy_to_xywh)
from yolactedge.eval.coco_json import BBOX_FILE, MASK_FILE


def random_masks(n: int, h: int = 23, w: int = 31, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random((n, h, w)) > 0.6).astype(np.uint8)


def test_rle_round_trip_and_ascii_counts():
    masks = random_masks(5)
    rles = encode_masks(masks)
    assert all(isinstance(r["counts"], str) and r["size"] == [23, 31] for r in rles)
    np.testing.assert_array_equal(decode_rles(rles), masks)
    # bool, float (thresholded at 0.5) and torch inputs encode the same
    assert encode_masks(masks.astype(bool)) == rles
    assert encode_masks(masks * 0.9) == rles
    assert encode_masks(torch.from_numpy(masks)) == rles
    assert encode_masks(np.zeros((0, 4, 4), np.uint8)) == []


def test_bbox_is_xywh_rounded_to_tenths():
    got = xyxy_to_xywh([[10.04, 20.06, 30.15, 40.0]])
    np.testing.assert_allclose(got, [[10.0, 20.1, 20.1, 19.9]])


def test_detections_to_coco_skips_non_positive_area_and_maps_categories():
    masks = random_masks(4)
    boxes = np.array([[1, 2, 11, 12], [5, 5, 5, 9], [3, 3, 9, 2], [0, 0, 31, 23]], np.float32)
    bb, mm = detections_to_coco(7, boxes, [0.9, 0.8, 0.7, 0.6], [0, 1, 1, 1], [3, 17], masks,
                                mask_scores=[0.5, 0.4, 0.3, 0.2])
    assert [d["category_id"] for d in bb] == [3, 17] and [d["category_id"] for d in mm] == [3, 17]
    assert bb[0] == {"image_id": 7, "category_id": 3, "bbox": [1.0, 2.0, 10.0, 10.0], "score": pytest.approx(0.9)}
    assert [d["score"] for d in mm] == pytest.approx([0.5, 0.2])
    np.testing.assert_array_equal(decode_rles([d["segmentation"] for d in mm]), masks[[0, 3]])
    # precomputed RLEs (bytes or str counts) give identical entries
    _, mm2 = detections_to_coco(7, boxes, [0.9, 0.8, 0.7, 0.6], [0, 1, 1, 1], [3, 17], encode_masks(masks),
                                mask_scores=[0.5, 0.4, 0.3, 0.2])
    assert mm2 == mm


def test_write_and_load_json_files(tmp_path):
    masks = random_masks(3)
    bb, mm = detections_to_coco(1, [[0, 0, 4, 4]] * 3, [0.3, 0.2, 0.1], [0, 0, 0], [1], masks)
    pb, pm = write_detections(tmp_path / "results", bb, mm)
    assert (pb.name, pm.name) == (BBOX_FILE, MASK_FILE)
    assert load_coco_json(pb) == bb and load_coco_json(pm) == mm
    np.testing.assert_array_equal(decode_rles([d["segmentation"] for d in load_coco_json(pm)]), masks)
    (tmp_path / "bad.json").write_text(json.dumps({"annotations": []}))
    with pytest.raises(ValueError, match="JSON list"):
        load_coco_json(tmp_path / "bad.json")


def test_length_mismatch_is_reported():
    with pytest.raises(ValueError, match="same length"):
        detections_to_coco(1, [[0, 0, 4, 4]], [0.3, 0.2], [0], [1])
    with pytest.raises(ValueError, match="masks for 1 boxes"):
        detections_to_coco(1, [[0, 0, 4, 4]], [0.3], [0], [1], random_masks(2))
