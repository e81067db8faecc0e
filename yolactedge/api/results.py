"""Per-image prediction results in user-facing formats (numpy, polygons, RLE, JSON, COCO, drawings).

Upstream YolactEdge left users to dig raw tensors out of ``postprocess()`` (YE#118, Y#39) and had
no polygon export (Y#46); ``Results`` gives Ultralytics-style access to everything at original
image resolution, and every method works for an image with zero detections.
"""
from __future__ import annotations

import dataclasses
import json
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from yolactedge.api.plotting import color_for, default_line_width, draw_boxes_labels, draw_masks
from yolactedge.api.video_io import show_image

MASK_FORMATS = ("polygon", "rle", None)


@dataclass(repr=False, eq=False)
class Results:
    """Detections for one image; instances are usually sorted by descending score.

    orig_img:  HxWx3 uint8 BGR image the predictions refer to
    path:      file name / source of the image
    names:     class index -> class name
    boxes:     [N,4] float32 xyxy in original-image pixels
    scores:    [N] float32
    class_ids: [N] int64, 0-based
    masks:     [N,H,W] bool at original resolution, or None when masks were not requested
    ids:       [N] int64 track ids, or None when not tracking
    speed:     milliseconds per stage, e.g. {"preprocess": 1.2, "inference": 8.0, "postprocess": 2.1}
    source, is_video, fps: the frame's origin (see ``yolactedge.data.sources.Frame``), so callers can
               group video frames into one output video without keeping the Frame around
    keyframe:  for video models, whether this frame ran the full backbone; None otherwise
    """

    orig_img: np.ndarray
    path: str = ""
    names: Mapping[int, str] = field(default_factory=dict)
    boxes: np.ndarray | None = None
    scores: np.ndarray | None = None
    class_ids: np.ndarray | None = None
    masks: np.ndarray | None = None
    ids: np.ndarray | None = None
    speed: dict[str, float] = field(default_factory=dict)
    source: str = ""
    is_video: bool = False
    fps: float | None = None
    keyframe: bool | None = None

    def __post_init__(self) -> None:
        img = _as_numpy(self.orig_img)
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise ValueError(f"orig_img must be HxWx3 uint8 BGR, got shape {img.shape} dtype {img.dtype}")
        self.orig_img = img
        self.boxes = _as_numpy(self.boxes, np.float32, (0, 4)).reshape(-1, 4)
        n = self.boxes.shape[0]
        self.scores = _as_numpy(self.scores, np.float32, (0,)).reshape(-1)
        self.class_ids = _as_numpy(self.class_ids, np.int64, (0,)).reshape(-1)
        if self.ids is not None:
            self.ids = _as_numpy(self.ids, np.int64).reshape(-1)
        if self.masks is not None:
            self.masks = _as_bool_masks(_as_numpy(self.masks))
            if self.masks.shape[1:] != img.shape[:2]:
                raise ValueError(
                    f"masks are {self.masks.shape[1:]} but the image is {img.shape[:2]}; "
                    "masks must be upsampled to the original image resolution"
                )
        per_instance = {"scores": self.scores, "class_ids": self.class_ids, "masks": self.masks, "ids": self.ids}
        for label, arr in per_instance.items():
            if arr is not None and arr.shape[0] != n:
                raise ValueError(
                    f"{label} has {arr.shape[0]} entries but boxes has {n}; all must describe the same instances"
                )
        self.names = {int(k): str(v) for k, v in dict(self.names).items()}
        self.speed = {str(k): float(v) for k, v in dict(self.speed).items()}

    # ------------------------------------------------------------------ basics
    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    @property
    def orig_shape(self) -> tuple[int, int]:
        return int(self.orig_img.shape[0]), int(self.orig_img.shape[1])

    @property
    def class_names(self) -> list[str]:
        return [self.names.get(int(c), str(int(c))) for c in self.class_ids]

    @property
    def xywh(self) -> np.ndarray:
        """[N,4] boxes as top-left x, y, width, height (the COCO box format)."""
        out = self.boxes.copy()
        out[:, 2:] -= out[:, :2]
        return out

    def numpy(self) -> dict[str, np.ndarray | None]:
        return {
            "boxes": self.boxes,
            "scores": self.scores,
            "class_ids": self.class_ids,
            "masks": self.masks,
            "ids": self.ids,
        }

    # ------------------------------------------------------------------ selection
    def __getitem__(self, key: int | slice | Sequence[int] | np.ndarray) -> Results:
        """Select instances by index, slice, index list or boolean array (length N)."""
        n = len(self)
        if isinstance(key, (int, np.integer)):
            if not -n <= int(key) < n:
                raise IndexError(f"instance index {int(key)} out of range for {n} detections")
            idx = np.array([int(key) % n])
        elif isinstance(key, slice):
            idx = np.arange(n)[key]
        else:
            arr = np.asarray(key)
            if arr.dtype == bool:
                if arr.shape != (n,):
                    raise IndexError(f"boolean selection has shape {arr.shape} but there are {n} detections")
                idx = np.flatnonzero(arr)
            elif arr.size == 0:
                idx = np.zeros(0, dtype=np.int64)
            elif np.issubdtype(arr.dtype, np.integer):
                if arr.min() < -n or arr.max() >= n:
                    raise IndexError(f"instance indices {arr.tolist()} out of range for {n} detections")
                idx = arr.reshape(-1)
            else:
                raise IndexError(f"select instances with an int, slice, int or bool array, not {arr.dtype}")
        return dataclasses.replace(
            self,
            boxes=self.boxes[idx],
            scores=self.scores[idx],
            class_ids=self.class_ids[idx],
            masks=None if self.masks is None else self.masks[idx],
            ids=None if self.ids is None else self.ids[idx],
            speed=dict(self.speed),
        )

    def filter(
        self,
        keep: Sequence[bool] | np.ndarray | None = None,
        *,
        classes: Sequence[int | str] | None = None,
        min_score: float | None = None,
    ) -> Results:
        """Keep instances matching all given criteria: a bool mask, class ids/names, a minimum score."""
        selected = np.ones(len(self), dtype=bool)
        if keep is not None:
            keep_arr = np.asarray(keep)
            if keep_arr.dtype != bool or keep_arr.shape != (len(self),):
                raise ValueError(
                    f"keep must be a bool array of length {len(self)}, got {keep_arr.dtype} {keep_arr.shape}"
                )
            selected &= keep_arr
        if classes is not None:
            wanted = {self._class_index(c) for c in classes}
            selected &= np.isin(self.class_ids, sorted(wanted))
        if min_score is not None:
            selected &= self.scores >= float(min_score)
        return self[selected]

    def _class_index(self, cls: int | str) -> int:
        if isinstance(cls, str):
            for idx, name in self.names.items():
                if name == cls:
                    return idx
            raise ValueError(f"unknown class name {cls!r}; known names: {sorted(self.names.values())[:20]}")
        return int(cls)

    # ------------------------------------------------------------------ mask formats
    @property
    def polygons_all(self) -> list[list[np.ndarray]]:
        """Per instance, every outer contour (one per connected part) as float32 [K,2] pixel x,y."""
        masks = self._require_masks("polygons")
        return [_outer_contours(m) for m in masks]

    @property
    def polygons(self) -> list[np.ndarray]:
        """Per instance, the largest outer contour as float32 [K,2] pixel x,y ([0,2] for empty masks)."""
        return [_largest(contours) for contours in self.polygons_all]

    def rle(self) -> list[dict[str, Any]]:
        """COCO run-length encodings ``{"size": [H, W], "counts": str}`` per instance."""
        masks = self._require_masks("RLE")
        if len(masks) == 0:
            return []
        from pycocotools import mask as mask_utils

        encoded = mask_utils.encode(np.asfortranarray(masks.transpose(1, 2, 0).astype(np.uint8)))
        return [{"size": [int(s) for s in e["size"]], "counts": e["counts"].decode("ascii")} for e in encoded]

    def _require_masks(self, what: str) -> np.ndarray:
        if self.masks is None:
            raise ValueError(f"cannot compute {what}: these results have no masks (predict with masks=True)")
        return self.masks

    # ------------------------------------------------------------------ drawing
    def plot(
        self,
        masks: bool = True,
        boxes: bool = True,
        labels: bool = True,
        conf: bool = True,
        line_width: int | None = None,
        alpha: float = 0.45,
    ) -> np.ndarray:
        """Return a new BGR image with masks, boxes and ``"name 0.93"`` labels.

        Colours are fixed per class, or per track id when ``ids`` is set, so they stay stable in videos.
        """
        keys = self.ids if self.ids is not None else self.class_ids
        colors = [color_for(k) for k in keys]
        image = self.orig_img
        if masks and self.masks is not None:
            image = draw_masks(image, self.masks, colors, alpha)
        else:
            image = image.copy()
        text = self._labels(conf) if labels else None
        if boxes or text:
            lw = line_width or default_line_width(image.shape)
            draw_boxes_labels(image, self.boxes, colors, text, lw, draw_boxes=boxes)
        return image

    def _labels(self, conf: bool) -> list[str]:
        out = []
        for i, name in enumerate(self.class_names):
            parts = [f"id:{int(self.ids[i])}"] if self.ids is not None else []
            parts.append(name)
            if conf:
                parts.append(f"{float(self.scores[i]):.2f}")
            out.append(" ".join(parts))
        return out

    def save(self, path: str | os.PathLike, **plot_kwargs: Any) -> str:
        """Write ``plot(**plot_kwargs)`` to ``path`` (format from the extension), creating folders."""
        path = Path(path)
        ext = path.suffix.lower() or ".jpg"
        ok, data = cv2.imencode(ext, self.plot(**plot_kwargs))
        if not ok:
            raise ValueError(f"cannot encode image as {ext!r} for {str(path)!r}; use .jpg or .png")
        path.parent.mkdir(parents=True, exist_ok=True)
        data.tofile(str(path))  # tofile handles non-ASCII paths, unlike cv2.imwrite
        return str(path)

    def show(self, window: str = "yolactedge", wait_ms: int = 0, **plot_kwargs: Any) -> bool:
        """Display the plot; on headless machines it warns and returns False instead of crashing."""
        return show_image(self.plot(**plot_kwargs), window, wait_ms)

    # ------------------------------------------------------------------ export
    def to_dict(self, include_masks: str | None = "polygon") -> dict[str, Any]:
        """JSON-ready dict: image info, timings and one entry per detection.

        ``include_masks``: "polygon" (largest outer contour as [[x, y], ...]), "rle" (COCO RLE), or None.
        Masks are left out when the results have none.
        """
        if include_masks not in MASK_FORMATS:
            raise ValueError(f"include_masks must be one of {MASK_FORMATS}, got {include_masks!r}")
        with_masks = include_masks is not None and self.masks is not None
        polygons = self.polygons if with_masks and include_masks == "polygon" else None
        rles = self.rle() if with_masks and include_masks == "rle" else None
        detections = []
        for i in range(len(self)):
            det: dict[str, Any] = {
                "class_id": int(self.class_ids[i]),
                "name": self.names.get(int(self.class_ids[i]), str(int(self.class_ids[i]))),
                "score": round(float(self.scores[i]), 5),
                "box": [round(float(v), 2) for v in self.boxes[i]],
                "id": None if self.ids is None else int(self.ids[i]),
            }
            if polygons is not None:
                det["polygon"] = np.round(polygons[i], 2).tolist()
            if rles is not None:
                det["rle"] = rles[i]
            detections.append(det)
        height, width = self.orig_shape
        return {
            "path": self.path,
            "height": height,
            "width": width,
            "speed_ms": {k: round(v, 3) for k, v in self.speed.items()},
            "detections": detections,
        }

    def to_json(self, include_masks: str | None = "polygon", indent: int | None = None) -> str:
        return json.dumps(self.to_dict(include_masks), indent=indent)

    def to_coco(
        self, image_id: int, category_ids: Sequence[int] | Mapping[int, int] | None = None
    ) -> list[dict[str, Any]]:
        """COCO result entries (bbox xywh, score, category_id, RLE segmentation when masks exist).

        ``category_ids[class_id]`` gives the dataset category id (e.g. the 80->90 COCO id list);
        without it the COCO convention ``class_id + 1`` is used.
        """
        rles = self.rle() if self.masks is not None else None
        out = []
        for i, (cls, box) in enumerate(zip(self.class_ids.tolist(), self.xywh.tolist())):
            entry: dict[str, Any] = {
                "image_id": int(image_id),
                "category_id": _category_id(cls, category_ids),
                "bbox": [float(v) for v in box],
                "score": round(float(self.scores[i]), 6),
            }
            if rles is not None:
                entry["segmentation"] = rles[i]
            out.append(entry)
        return out

    # ------------------------------------------------------------------ text
    def summary(self) -> str:
        """One line such as ``"3 detections: 2 person, 1 car (12.3 ms)"``."""
        n = len(self)
        text = f"{n} detection{'' if n == 1 else 's'}"
        if n:
            counts = Counter(zip(self.class_ids.tolist(), self.class_names))
            ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0][0]))
            text += ": " + ", ".join(f"{count} {name}" for (_, name), count in ordered)
        if self.speed:
            text += f" ({sum(self.speed.values()):.1f} ms)"
        return text

    def __repr__(self) -> str:
        height, width = self.orig_shape
        return (
            f"Results(path={self.path!r}, shape=({height}, {width}), detections={len(self)}, "
            f"masks={self.masks is not None}, tracked={self.ids is not None})"
        )


def _as_numpy(value: Any, dtype: Any = None, empty_shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Accept numpy arrays, lists and CPU/GPU torch tensors without importing torch."""
    if value is None:
        return np.zeros(empty_shape or (0,), dtype=dtype)
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    arr = np.asarray(value)
    return arr.astype(dtype, copy=False) if dtype is not None else arr


def _as_bool_masks(masks: np.ndarray) -> np.ndarray:
    if masks.ndim != 3:
        raise ValueError(f"masks must be [N,H,W], got shape {masks.shape}")
    if masks.dtype == bool:
        return masks
    if np.issubdtype(masks.dtype, np.floating):
        return masks > 0.5  # probabilities; binarise at the usual threshold
    return masks != 0


def _outer_contours(mask: np.ndarray) -> list[np.ndarray]:
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return [c.reshape(-1, 2).astype(np.float32) for c in contours]


def _largest(contours: list[np.ndarray]) -> np.ndarray:
    if not contours:
        return np.zeros((0, 2), dtype=np.float32)
    return max(contours, key=lambda c: (abs(cv2.contourArea(c)), len(c)))


def _category_id(cls: int, category_ids: Sequence[int] | Mapping[int, int] | None) -> int:
    if category_ids is None:
        return int(cls) + 1
    try:
        if cls < 0:
            raise IndexError(cls)
        return int(category_ids[cls])
    except (IndexError, KeyError) as err:
        size = len(category_ids)
        raise ValueError(
            f"class id {cls} has no entry in category_ids ({size} entries); "
            "pass one category id per model class"
        ) from err
