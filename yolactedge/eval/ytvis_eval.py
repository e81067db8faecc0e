"""YouTube-VIS frame-level mAP (spec 14.3): each annotated frame is scored as a COCO "image".

This is what the original reports for YouTube-VIS (not the official video AP). Results can be
grouped by keyframe distance (0 = keyframe, 1..k-1 = frames warped from it) so the cost of
feature warping shows up per distance, while ``"all"`` pools every (frame, distance) pair into one
table, as the original's passes all accumulate into the same AP tables.
"""
from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .coco_eval import IOU_TYPES, Evaluator, evaluate_loaded, load_coco_gt
from .coco_json import encode_masks, map_categories, rle_to_json, to_numpy

FRAME_ID_BASE = 10_000  # image id = video_id * FRAME_ID_BASE + annotated-frame index


def frame_image_id(video_id: int, frame_index: int) -> int:
    """Stable COCO image id of annotated frame ``frame_index`` (position in ``file_names``)."""
    if not 0 <= frame_index < FRAME_ID_BASE:
        raise ValueError(f"frame_index {frame_index} of video {video_id} outside [0, {FRAME_ID_BASE})")
    return int(video_id) * FRAME_ID_BASE + int(frame_index)


def _load_json(src: str | os.PathLike | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(src, (str, os.PathLike)):
        with open(src) as f:
            return json.load(f)
    return src


def _box_polygon(b: Sequence[float]) -> list[list[float]]:
    x, y, w, h = (float(v) for v in b)
    return [[x, y, x, y + h, x + w, y + h, x + w, y]]


def ytvis_to_coco(ytvis: str | os.PathLike | Mapping[str, Any]) -> dict:
    """YouTube-VIS annotations -> COCO-style GT with one image per annotated frame.

    Images keep ``file_name`` (the frame path), ``video_id`` and ``frame_index`` so a caller can
    find a frame either way. Per-frame entries that are None (object absent) produce no
    annotation; a frame with a box but no mask gets the box as its polygon.
    """
    data = _load_json(ytvis)
    if "videos" not in data:
        raise ValueError("not a YouTube-VIS annotation file: no 'videos' key")
    images, videos = [], {}
    for v in data["videos"]:
        vid = int(v["id"])
        videos[vid] = v
        for f, name in enumerate(v["file_names"]):
            images.append({"id": frame_image_id(vid, f), "file_name": name, "height": int(v["height"]),
                           "width": int(v["width"]), "video_id": vid, "frame_index": f})
    anns = []
    for a in data.get("annotations", []):
        vid = int(a["video_id"])
        if vid not in videos:
            raise ValueError(f"annotation {a.get('id')} refers to video_id {vid}, which is not in 'videos'")
        n = len(videos[vid]["file_names"])
        segs = a.get("segmentations") or [None] * n
        boxes = a.get("bboxes") or [None] * n
        areas = a.get("areas") or [None] * n
        if not len(segs) == len(boxes) == len(areas) == n:
            raise ValueError(f"annotation {a.get('id')}: per-frame lists must have {n} entries (one per file_name)")
        for f in range(n):
            seg, box, area = segs[f], boxes[f], areas[f]
            if seg is None and box is None:
                continue
            ann = {"id": len(anns) + 1, "image_id": frame_image_id(vid, f), "category_id": int(a["category_id"]),
                   "iscrowd": int(a.get("iscrowd", 0)), "segmentation": seg if seg is not None else _box_polygon(box),
                   "instance_id": a.get("id")}
            if box is not None:
                ann["bbox"] = [float(x) for x in box]
            if area is not None:
                ann["area"] = float(area)
            anns.append(ann)
    return {"images": images, "annotations": anns, "categories": list(data["categories"])}


class FrameEvaluator:
    """Frame-level YTVIS mAP accumulated per keyframe distance.

    ``gt``: YouTube-VIS annotations (path or dict) or an already converted COCO dict.
    ``frame_key`` in :meth:`add`: the COCO image id, ``(video_id, frame_index)`` or the frame's
    ``file_name``. A frame may be added once per distance.
    """

    def __init__(
        self,
        gt: str | os.PathLike | Mapping[str, Any],
        category_ids: Sequence[int] | None = None,
        iou_types: Sequence[str] = IOU_TYPES,
        *,
        backend: str = "pycocotools",
    ) -> None:
        data = _load_json(gt)
        self.gt = load_coco_gt(ytvis_to_coco(data) if "videos" in data else data)
        self.category_ids = list(category_ids) if category_ids is not None else sorted(
            int(c["id"]) for c in self.gt["categories"])
        self.iou_types = tuple(iou_types)
        self.backend = backend
        self._images = {int(im["id"]): im for im in self.gt["images"]}
        self._by_name = {im["file_name"]: i for i, im in self._images.items() if "file_name" in im}
        self._anns = defaultdict(list)
        for a in self.gt["annotations"]:
            self._anns[int(a["image_id"])].append(a)
        self._groups: dict[int, Evaluator] = {}

    def image_id(self, frame_key: int | str | tuple[int, int]) -> int:
        if isinstance(frame_key, str):
            if frame_key not in self._by_name:
                raise ValueError(f"frame {frame_key!r} is not an annotated frame of the ground truth")
            return self._by_name[frame_key]
        if isinstance(frame_key, tuple):
            return frame_image_id(*frame_key)
        return int(frame_key)

    def add(self, frame_key: int | str | tuple[int, int], distance: int, boxes: Any, scores: Any, classes: Any,
            masks: Any = None, mask_scores: Any = None) -> None:
        """Record one frame's detections, made ``distance`` frames after its keyframe."""
        distance = int(distance)
        if distance < 0:
            raise ValueError(f"keyframe distance must be >= 0, got {distance}")
        img = self.image_id(frame_key)
        if img not in self._images:
            raise ValueError(f"frame {frame_key!r} (image id {img}) is not in the ground truth")
        ev = self._groups.get(distance)
        if ev is None:
            ev = self._groups[distance] = Evaluator(self.gt, self.category_ids, self.iou_types,
                                                    backend=self.backend)
        ev.add(img, boxes, scores, classes, masks, mask_scores)

    @property
    def distances(self) -> list[int]:
        return sorted(self._groups)

    def _pooled(self) -> tuple[dict, dict[str, list[dict]]]:
        """GT and results with every (distance, frame) pair as its own image."""
        images, anns, res = [], [], {"bbox": [], "segm": []}
        for d in self.distances:
            ev = self._groups[d]
            remap = {}
            for old in sorted(ev.seen):
                remap[old] = new = len(images) + 1
                images.append({**self._images[old], "id": new})
                base = len(anns)
                anns.extend({**a, "id": base + k + 1, "image_id": new} for k, a in enumerate(self._anns[old]))
            for t, entries in ev.results.items():
                res[t].extend({**r, "image_id": remap[r["image_id"]]} for r in entries)
        return {**self.gt, "images": images, "annotations": anns}, res

    def summarize(self, verbose: bool = False) -> dict[int | str, dict]:
        """``{distance: metrics, ..., "all": metrics}``; metrics as :func:`evaluate_coco` returns them."""
        out: dict[int | str, dict] = {d: self._groups[d].compute(verbose=verbose) for d in self.distances}
        gt, res = self._pooled()
        out["all"] = evaluate_loaded(gt, res, self.iou_types, backend=self.backend, verbose=verbose)
        return out


def to_ytvis_results(
    video_id: int,
    per_frame_results: Sequence[Mapping[str, Any] | None],
    category_ids: Sequence[int],
) -> list[dict]:
    """Tracked per-frame detections of one video -> YouTube-VIS result entries, one per track.

    ``per_frame_results[f]`` holds annotated frame ``f``'s ``track_ids``, ``scores``, ``classes``
    (0-based) and ``masks`` [N,H,W] or ``rles``; None for a frame not processed. A track's category
    is the class with the largest summed score over its frames (a track may flip class between
    frames, the format allows one), its score the mean of its per-frame scores.
    """
    n = len(per_frame_results)
    tracks: dict[int, dict] = {}
    for f, fr in enumerate(per_frame_results):
        if fr is None:
            continue
        tids = to_numpy(fr["track_ids"]).astype(np.int64).reshape(-1)
        scores = to_numpy(fr["scores"]).astype(np.float64).reshape(-1)
        cats = map_categories(fr["classes"], category_ids)
        rles = [rle_to_json(r) for r in fr["rles"]] if "rles" in fr else encode_masks(fr["masks"])
        if not len(tids) == len(scores) == len(cats) == len(rles):
            raise ValueError(f"video {video_id} frame {f}: track_ids, scores, classes and masks differ in length")
        for tid, s, c, r in zip(tids.tolist(), scores.tolist(), cats.tolist(), rles):
            t = tracks.setdefault(tid, {"scores": [], "cat_score": defaultdict(float), "segs": [None] * n})
            if t["segs"][f] is not None:
                raise ValueError(f"video {video_id} frame {f}: track id {tid} appears twice")
            t["segs"][f] = r
            t["scores"].append(s)
            t["cat_score"][c] += s
    return [
        {"video_id": int(video_id), "category_id": int(max(t["cat_score"], key=t["cat_score"].get)),
         "score": float(np.mean(t["scores"])), "segmentations": t["segs"]}
        for _, t in sorted(tracks.items())
    ]


def load_ytvis_results(src: str | os.PathLike | Sequence[Mapping[str, Any]]) -> list[dict]:
    """A YouTube-VIS results file (a JSON list of per-track entries), checked for the keys it needs."""
    data = _load_json(src) if isinstance(src, (str, os.PathLike)) else src
    if not isinstance(data, Sequence) or isinstance(data, (str, bytes)):
        raise ValueError(f"{src if isinstance(src, (str, os.PathLike)) else 'results'}: a YouTube-VIS results "
                         f"file holds a JSON list, got {type(data).__name__}")
    for i, entry in enumerate(data):
        missing = [k for k in ("video_id", "category_id", "score", "segmentations") if k not in entry]
        if missing:
            raise ValueError(f"YouTube-VIS result #{i} lacks {missing}")
    return [dict(e) for e in data]


def evaluate_ytvis_results(
    gt: str | os.PathLike | Mapping[str, Any],
    results: str | os.PathLike | Sequence[Mapping[str, Any]],
    iou_types: Sequence[str] = IOU_TYPES,
    *,
    backend: str = "pycocotools",
) -> dict[str, dict]:
    """Frame-level mAP (the metric of :class:`FrameEvaluator`) of a YouTube-VIS results file.

    Every track's mask on an annotated frame is a detection of that frame with the track's
    category and score; its box is the mask's bounding box. Every annotated frame of the ground
    truth counts (a video without results is all misses). Per-frame lists must have one entry per
    ``file_names`` entry of their video, as the format requires.
    """
    from pycocotools import mask as mask_utils

    data = _load_json(gt)
    entries = load_ytvis_results(results)
    coco = ytvis_to_coco(data)
    evaluator = Evaluator(coco, iou_types=iou_types, backend=backend)
    class_of = {cid: i for i, cid in enumerate(evaluator.category_ids)}
    sizes = {int(v["id"]): (len(v["file_names"]), int(v["height"]), int(v["width"])) for v in data["videos"]}
    frames: dict[tuple[int, int], dict[str, list]] = defaultdict(lambda: {"boxes": [], "scores": [], "classes": [],
                                                                           "rles": []})
    for i, entry in enumerate(entries):
        vid, cat = int(entry["video_id"]), int(entry["category_id"])
        if vid not in sizes:
            raise ValueError(f"YouTube-VIS result #{i}: video_id {vid} is not in the ground truth")
        if cat not in class_of:
            raise ValueError(f"YouTube-VIS result #{i}: category_id {cat} is not a ground-truth category")
        n, h, w = sizes[vid]
        segs = entry["segmentations"]
        if len(segs) != n:
            raise ValueError(f"YouTube-VIS result #{i}: {len(segs)} per-frame entries, video {vid} has {n} frames")
        for f, seg in enumerate(segs):
            if seg is None:
                continue
            rle = mask_utils.frPyObjects(seg, h, w) if isinstance(seg.get("counts"), list) else seg
            x, y, bw, bh = (float(v) for v in mask_utils.toBbox(
                {"size": rle["size"], "counts": rle["counts"].encode("ascii") if isinstance(rle["counts"], str)
                 else rle["counts"]}))
            frame = frames[(vid, f)]
            frame["boxes"].append([x, y, x + bw, y + bh])
            frame["scores"].append(float(entry["score"]))
            frame["classes"].append(class_of[cat])
            frame["rles"].append(rle)
    for image in coco["images"]:
        frame = frames.get((int(image["video_id"]), int(image["frame_index"])))
        if frame is None:
            evaluator.add(image["id"], np.zeros((0, 4)), [], [], [])
        else:
            evaluator.add(image["id"], np.asarray(frame["boxes"]), frame["scores"], frame["classes"], frame["rles"])
    return evaluator.compute()
