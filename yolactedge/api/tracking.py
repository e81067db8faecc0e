"""Track ids across video frames by mask IoU (boxes when masks are off), with a short memory."""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np


@dataclass
class _Track:
    track_id: int
    class_id: int
    mask: np.ndarray | None  # low-resolution bool mask
    box: np.ndarray
    age: int = 0  # frames since last matched


def _small_masks(masks: np.ndarray, max_side: int) -> np.ndarray:
    h, w = masks.shape[1:]
    scale = max_side / max(h, w)
    if scale >= 1:
        return masks.astype(bool)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.stack([cv2.resize(m.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) for m in masks]).astype(bool)


def mask_iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[n,h,w] x [m,h,w] bool -> [n,m] IoU, as one matrix product."""
    fa = a.reshape(len(a), -1).astype(np.float32)
    fb = b.reshape(len(b), -1).astype(np.float32)
    inter = fa @ fb.T
    union = fa.sum(1)[:, None] + fb.sum(1)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def box_iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    union = area(a)[:, None] + area(b)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


@dataclass
class MaskIoUTracker:
    """Greedy same-class matching of each frame's detections to live tracks (highest IoU first).

    A track survives ``max_age`` frames without a match (short occlusions, missed detections),
    then ends; unmatched detections start new ids. Masks are compared at ``max_side`` pixels.
    """

    iou_thresh: float = 0.3
    max_age: int = 5
    max_side: int = 160
    _tracks: list[_Track] = field(default_factory=list)
    _next_id: int = 1

    def reset(self) -> None:
        self._tracks, self._next_id = [], 1

    def update(self, boxes: np.ndarray, class_ids: np.ndarray, masks: np.ndarray | None) -> np.ndarray:
        """Ids [n] for this frame's detections (in their order)."""
        n = len(class_ids)
        small = _small_masks(masks, self.max_side) if masks is not None and n else None
        ids = np.zeros(n, np.int64)
        matched_tracks: set[int] = set()
        if n and self._tracks:
            if small is not None and all(t.mask is not None and t.mask.shape == small.shape[1:] for t in self._tracks):
                iou = mask_iou_matrix(small, np.stack([t.mask for t in self._tracks]))
            else:
                iou = box_iou_matrix(boxes, np.stack([t.box for t in self._tracks]))
            same_class = class_ids[:, None] == np.array([t.class_id for t in self._tracks])[None, :]
            iou = np.where(same_class, iou, 0.0)
            for flat in np.argsort(-iou, axis=None):
                d, t = np.unravel_index(flat, iou.shape)
                if iou[d, t] < self.iou_thresh:
                    break
                if ids[d] or t in matched_tracks:
                    continue
                track = self._tracks[t]
                ids[d] = track.track_id
                matched_tracks.add(t)
                track.box, track.age = boxes[d].copy(), 0
                track.mask = None if small is None else small[d]
        survivors = []
        for index, track in enumerate(self._tracks):
            if index not in matched_tracks:
                track.age += 1
            if track.age <= self.max_age:
                survivors.append(track)
        self._tracks = survivors
        for d in np.nonzero(ids == 0)[0]:
            ids[d] = self._next_id
            self._tracks.append(_Track(self._next_id, int(class_ids[d]), None if small is None else small[d], boxes[d].copy()))
            self._next_id += 1
        return ids
