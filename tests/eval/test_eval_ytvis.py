"""YouTube-VIS frame-level evaluation on a tiny hand-written annotation file."""
from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from yolactedge.eval import FrameEvaluator, decode_rles, frame_image_id, to_ytvis_results, ytvis_to_coco

H, W = 40, 60


def rect(x0, y0, x1, y1) -> np.ndarray:
    m = np.zeros((H, W), np.uint8)
    m[y0:y1, x0:x1] = 1
    return m


# video 1: 3 annotated frames, a "cat" (id 1) visible in frames 0 and 1 only
# video 2: 2 annotated frames, a "dog" (id 2) visible in both
MASKS = {(1, 0): rect(5, 5, 20, 20), (1, 1): rect(7, 5, 22, 20), (2, 0): rect(30, 10, 50, 30),
         (2, 1): rect(31, 10, 51, 30)}


def uncompressed(m: np.ndarray) -> dict:
    """The 2019 YTVIS files store uncompressed RLE (counts as a list of run lengths)."""
    flat = m.flatten(order="F")
    change = np.flatnonzero(np.diff(np.r_[0, flat, 1 - flat[-1]]))
    return {"size": [H, W], "counts": np.diff(np.r_[0, change]).tolist()}


def make_ytvis() -> dict:
    def per_frame(vid: int, n: int, fn):
        return [fn(MASKS[(vid, f)]) if (vid, f) in MASKS else None for f in range(n)]

    def bbox(m):
        return mask_utils.toBbox(mask_utils.encode(np.asfortranarray(m))).tolist()

    videos = [{"id": 1, "height": H, "width": W, "length": 3, "file_names": [f"v1/{i:05d}.jpg" for i in (0, 5, 10)]},
              {"id": 2, "height": H, "width": W, "length": 2, "file_names": [f"v2/{i:05d}.jpg" for i in (0, 5)]}]
    anns = [{"id": 11, "video_id": vid, "category_id": cat, "iscrowd": 0,
             "segmentations": per_frame(vid, n, uncompressed), "bboxes": per_frame(vid, n, bbox),
             "areas": per_frame(vid, n, lambda m: float(m.sum()))}
            for vid, n, cat in ((1, 3, 1), (2, 2, 2))]
    return {"videos": videos, "annotations": anns,
            "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]}


def test_conversion_one_image_per_annotated_frame():
    coco = ytvis_to_coco(make_ytvis())
    assert [im["id"] for im in coco["images"]] == [frame_image_id(1, f) for f in range(3)] + \
        [frame_image_id(2, f) for f in range(2)]
    assert coco["images"][1]["file_name"] == "v1/00005.jpg" and coco["images"][1]["frame_index"] == 1
    assert len(coco["annotations"]) == 4  # the None entry of video 1 frame 2 is no annotation
    assert {a["image_id"] for a in coco["annotations"]} == {frame_image_id(*k) for k in MASKS}
    assert frame_image_id(1, 2) != frame_image_id(2, 1)
    for a in coco["annotations"]:
        rle = mask_utils.frPyObjects(a["segmentation"], H, W)
        key = (a["image_id"] // 10_000, a["image_id"] % 10_000)
        np.testing.assert_array_equal(decode_rles([rle])[0], MASKS[key])
    with pytest.raises(ValueError):
        frame_image_id(1, 10**6)


def add_frames(ev: FrameEvaluator, distance: int, skip: set = frozenset()) -> None:
    """Perfect detections on every annotated frame, except the objects in ``skip`` (missed)."""
    for vid, n in ((1, 3), (2, 2)):
        for f in range(n):
            key = (vid, f) if distance % 2 else f"v{vid}/{f * 5:05d}.jpg"  # both key styles
            if (vid, f) in MASKS and (vid, f) not in skip:
                m = MASKS[(vid, f)][None]
                x, y, w, h = mask_utils.toBbox(mask_utils.encode(np.asfortranarray(m[0])))
                ev.add(key, distance, [[x, y, x + w, y + h]], [0.9], [vid - 1], m)
            else:
                ev.add(key, distance, np.zeros((0, 4)), [], [], np.zeros((0, H, W), np.uint8))


def test_per_distance_and_pooled_map():
    ev = FrameEvaluator(make_ytvis())
    add_frames(ev, 0)
    add_frames(ev, 1, skip={(1, 1)})
    s = ev.summarize()
    assert list(s) == [0, 1, "all"]
    for t in ("bbox", "segm"):
        assert s[0][t]["AP"] == pytest.approx(100.0)
        # distance 1: cat 1 of 2 found at precision 1 -> 51/101; dog 100
        assert s[1][t]["AP"] == pytest.approx(100 * (51 / 101 + 1) / 2)
        # pooled (each frame once per distance): cat 3 of 4 -> recall points 0..0.75 -> 76/101
        assert s["all"][t]["AP"] == pytest.approx(100 * (76 / 101 + 1) / 2)
        assert s["all"][t]["per_class"] == pytest.approx({"cat": 100 * 76 / 101, "dog": 100.0})


def test_frame_evaluator_errors():
    ev = FrameEvaluator(make_ytvis())
    with pytest.raises(ValueError, match="not an annotated frame"):
        ev.add("v1/00001.jpg", 0, np.zeros((0, 4)), [], [], np.zeros((0, H, W)))
    with pytest.raises(ValueError, match="not in the ground truth"):
        ev.add((3, 0), 0, np.zeros((0, 4)), [], [], np.zeros((0, H, W)))
    with pytest.raises(ValueError, match=">= 0"):
        ev.add((1, 0), -1, np.zeros((0, 4)), [], [], np.zeros((0, H, W)))


def test_to_ytvis_results_groups_by_track():
    m0, m1 = MASKS[(1, 0)], MASKS[(1, 1)]
    frames = [
        {"track_ids": [4, 7], "scores": [0.9, 0.2], "classes": [0, 1], "masks": np.stack([m0, m1])},
        {"track_ids": [4], "scores": [0.7], "classes": [1], "masks": m1[None]},  # track 4 flips class once
        None,
    ]
    out = to_ytvis_results(1, frames, category_ids=[1, 2])
    assert [(r["category_id"], round(r["score"], 6)) for r in out] == [(1, 0.8), (2, 0.2)]
    assert all(r["video_id"] == 1 and len(r["segmentations"]) == 3 for r in out)
    t4, t7 = out
    assert t4["segmentations"][2] is None and t7["segmentations"][1] is None
    np.testing.assert_array_equal(decode_rles(t4["segmentations"][:2]), np.stack([m0, m1]))
    assert isinstance(t7["segmentations"][0]["counts"], str)
    with pytest.raises(ValueError, match="appears twice"):
        to_ytvis_results(1, [{"track_ids": [1, 1], "scores": [1, 1], "classes": [0, 0],
                              "masks": np.stack([m0, m0])}], [1])
