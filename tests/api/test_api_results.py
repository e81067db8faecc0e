"""Results formats with 0, 1 and 3 instances: polygons, RLE, plots, JSON, COCO, selection."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_utils

from yolactedge.api.results import Results

H, W = 64, 80
NAMES = {0: "person", 1: "car", 2: "dog"}


def _image() -> np.ndarray:
    return np.full((H, W, 3), 90, dtype=np.uint8)


def _masks() -> np.ndarray:
    masks = np.zeros((3, H, W), dtype=np.uint8)
    cv2.circle(masks[0], (20, 20), 12, 1, -1)
    cv2.rectangle(masks[1], (40, 30), (75, 60), 1, -1)
    cv2.ellipse(masks[2], (30, 48), (14, 8), 20, 0, 360, 1, -1)
    return masks.astype(bool)


def _boxes_from(masks: np.ndarray) -> np.ndarray:
    boxes = []
    for m in masks:
        ys, xs = np.nonzero(m)
        boxes.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
    return np.array(boxes, dtype=np.float32)


def _results(n: int, *, with_masks: bool = True, ids: bool = False) -> Results:
    masks = _masks()[:n]
    return Results(
        orig_img=_image(),
        path="img.jpg",
        names=NAMES,
        boxes=_boxes_from(masks) if n else None,
        scores=np.array([0.9, 0.8, 0.7][:n]),
        class_ids=np.array([0, 1, 0][:n]),
        masks=masks if with_masks else None,
        ids=np.arange(1, n + 1) if ids else None,
        speed={"preprocess": 1.0, "inference": 10.0, "postprocess": 1.3},
    )


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


@pytest.mark.parametrize("n", [0, 1, 3])
def test_types_and_shapes(n: int) -> None:
    r = _results(n)
    assert len(r) == n
    assert r.boxes.dtype == np.float32 and r.boxes.shape == (n, 4)
    assert r.scores.dtype == np.float32 and r.class_ids.dtype == np.int64
    assert r.masks.dtype == bool and r.masks.shape == (n, H, W)
    assert r.class_names == ["person", "car", "person"][:n]
    assert set(r.numpy()) == {"boxes", "scores", "class_ids", "masks", "ids"}


@pytest.mark.parametrize("n", [0, 1, 3])
def test_polygons_decode_back_to_mask(n: int) -> None:
    r = _results(n)
    assert len(r.polygons) == n and len(r.polygons_all) == n
    for poly, mask in zip(r.polygons, r.masks):
        assert poly.dtype == np.float32 and poly.ndim == 2 and poly.shape[1] == 2
        drawn = np.zeros((H, W), dtype=np.uint8)
        cv2.fillPoly(drawn, [np.round(poly).astype(np.int32)], 1)
        assert _iou(drawn.astype(bool), mask) > 0.9


def test_polygons_all_and_empty_mask() -> None:
    masks = np.zeros((2, H, W), dtype=bool)
    masks[0, 2:10, 2:10] = True
    masks[0, 30:50, 30:60] = True  # two parts: the bigger one is the "largest" polygon
    r = Results(_image(), names=NAMES, boxes=np.zeros((2, 4)), scores=[0.5, 0.4], class_ids=[0, 1],
                masks=masks)
    assert len(r.polygons_all[0]) == 2
    assert r.polygons[0][:, 0].min() >= 30
    assert r.polygons[1].shape == (0, 2) and r.polygons_all[1] == []


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pycocotools' decode vs numpy 2
@pytest.mark.parametrize("n", [0, 1, 3])
def test_rle_round_trip(n: int) -> None:
    r = _results(n)
    rles = r.rle()
    assert len(rles) == n
    for rle, mask in zip(rles, r.masks):
        assert isinstance(rle["counts"], str) and rle["size"] == [H, W]
        decoded = mask_utils.decode({"size": rle["size"], "counts": rle["counts"].encode("ascii")})
        assert np.array_equal(decoded.astype(bool), mask)


@pytest.mark.parametrize("n", [0, 1, 3])
def test_plot_changes_pixels_under_masks_only(n: int) -> None:
    r = _results(n)
    plotted = r.plot(boxes=False, labels=False)
    assert plotted.shape == r.orig_img.shape and plotted.dtype == np.uint8
    changed = (plotted != r.orig_img).any(axis=2)
    union = r.masks.any(axis=0)
    assert np.array_equal(changed, union)
    assert np.array_equal(r.orig_img, _image())  # the original is untouched
    full = r.plot()
    assert full.shape == r.orig_img.shape
    if n:
        assert (full != plotted).any()  # boxes and labels add pixels


def test_plot_colours_by_track_id_and_without_masks() -> None:
    by_class = _results(3).plot(boxes=False, labels=False)
    by_id = _results(3, ids=True).plot(boxes=False, labels=False)
    m0, m2 = _masks()[0], _masks()[2]
    assert np.array_equal(by_class[m0][0], by_class[m2][0])  # same class -> same colour
    assert not np.array_equal(by_id[m0][0], by_id[m2][0])  # different track ids -> different colours
    no_masks = _results(3, with_masks=False)
    assert no_masks.plot().shape == (H, W, 3)
    assert no_masks.to_dict()["detections"][0].get("polygon") is None
    with pytest.raises(ValueError, match="no masks"):
        no_masks.rle()


def test_save_creates_folders(tmp_path: Path) -> None:
    out = _results(3).save(tmp_path / "a" / "b" / "pred.png")
    image = cv2.imread(out)
    assert image is not None and image.shape == (H, W, 3)


@pytest.mark.parametrize("n", [0, 1, 3])
@pytest.mark.parametrize("fmt", ["polygon", "rle", None])
def test_to_json_is_valid(n: int, fmt: str | None) -> None:
    r = _results(n, ids=True)
    data = json.loads(r.to_json(include_masks=fmt))
    assert data["width"] == W and data["height"] == H and data["path"] == "img.jpg"
    assert len(data["detections"]) == n
    for det, cls in zip(data["detections"], r.class_ids):
        assert det["class_id"] == int(cls) and det["name"] == NAMES[int(cls)]
        assert len(det["box"]) == 4 and isinstance(det["id"], int)
        assert ("polygon" in det) == (fmt == "polygon") and ("rle" in det) == (fmt == "rle")
    with pytest.raises(ValueError, match="include_masks"):
        r.to_json(include_masks="png")


@pytest.mark.parametrize("n", [0, 1, 3])
def test_to_coco(n: int) -> None:
    r = _results(n)
    entries = r.to_coco(image_id=7, category_ids=[1, 3, 18])
    assert len(entries) == n
    json.dumps(entries)
    for entry, box, cls in zip(entries, r.boxes, r.class_ids):
        assert entry["image_id"] == 7
        assert entry["category_id"] == [1, 3, 18][int(cls)]
        x, y, w, h = entry["bbox"]
        assert [x, y, x + w, y + h] == pytest.approx(box.tolist())
        assert set(entry["segmentation"]) == {"size", "counts"}
    if n:
        assert r.to_coco(1)[0]["category_id"] == 1  # default: class id + 1
        with pytest.raises(ValueError, match="category_ids"):
            r.to_coco(1, category_ids=[])


def test_selection_and_filter() -> None:
    r = _results(3, ids=True)
    assert len(r[0]) == 1 and r[0].scores[0] == pytest.approx(0.9)
    assert len(r[-1]) == 1 and r[-1].ids[0] == 3
    assert len(r[1:]) == 2 and r[1:].masks.shape == (2, H, W)
    assert len(r[np.array([True, False, True])]) == 2
    assert r[[2, 0]].class_ids.tolist() == [0, 0]
    assert len(r[[]]) == 0
    assert len(r.filter(classes=["person"])) == 2
    assert len(r.filter(classes=[1], min_score=0.5)) == 1
    assert len(r.filter(np.array([False, False, False]))) == 0
    with pytest.raises(IndexError):
        r[5]
    with pytest.raises(IndexError, match="boolean"):
        r[np.array([True])]
    with pytest.raises(ValueError, match="unknown class name"):
        r.filter(classes=["zebra"])


def test_summary_and_repr() -> None:
    assert _results(3).summary() == "3 detections: 2 person, 1 car (12.3 ms)"
    assert _results(1).summary() == "1 detection: 1 person (12.3 ms)"
    assert _results(0).summary() == "0 detections (12.3 ms)"
    assert "detections=3" in repr(_results(3))


def test_validation_messages() -> None:
    with pytest.raises(ValueError, match="scores has 1 entries but boxes has 2"):
        Results(_image(), boxes=np.zeros((2, 4)), scores=[0.1], class_ids=[0, 0])
    with pytest.raises(ValueError, match="original image resolution"):
        Results(_image(), boxes=np.zeros((1, 4)), scores=[0.1], class_ids=[0],
                masks=np.zeros((1, 8, 8), bool))
    with pytest.raises(ValueError, match="orig_img"):
        Results(np.zeros((4, 4), np.uint8))


def test_frame_metadata_survives_selection() -> None:
    r = Results(_image(), boxes=np.zeros((2, 4)), scores=[0.5, 0.4], class_ids=[0, 1],
                source="clip.mp4", is_video=True, fps=25.0, keyframe=False)
    picked = r[1:]
    assert (picked.source, picked.is_video, picked.fps, picked.keyframe) == ("clip.mp4", True, 25.0, False)
    assert picked.orig_img is r.orig_img  # selection never copies the image
