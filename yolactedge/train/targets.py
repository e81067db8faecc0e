"""Per-image training targets in the layout the matcher and losses expect (crowds last)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch


def _as_tensor(x: Any, dtype: torch.dtype | None = None) -> torch.Tensor:
    t = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(x))
    return t if dtype is None else t.to(dtype)


@dataclass
class Targets:
    """Ground truth of one image at network-input resolution.

    boxes:      [K,4] float, relative x1y1x2y2
    labels:     [K] int64, 0-based foreground class (crowd entries' labels are ignored)
    masks:      [K,H,W] float or uint8 in {0,1}, at network input resolution
    num_crowds: the last ``num_crowds`` entries are COCO crowd regions; as in the original they
                only neutralise anchors and are never trained as objects.
    """

    boxes: torch.Tensor
    labels: torch.Tensor
    masks: torch.Tensor
    num_crowds: int = 0

    def __post_init__(self) -> None:
        k = self.boxes.shape[0]
        if self.boxes.dim() != 2 or self.boxes.shape[1] != 4:
            raise ValueError(f"boxes must be [K,4], got {tuple(self.boxes.shape)}")
        if self.labels.shape != (k,):
            raise ValueError(f"labels must be [{k}], got {tuple(self.labels.shape)}")
        if self.masks.dim() != 3 or self.masks.shape[0] != k:
            raise ValueError(f"masks must be [{k},H,W], got {tuple(self.masks.shape)}")
        if not 0 <= self.num_crowds <= k:
            raise ValueError(f"num_crowds={self.num_crowds} outside [0, {k}]")

    @classmethod
    def from_arrays(
        cls, boxes: Any, labels: Any, masks: Any, crowd_flags: Any | None = None
    ) -> "Targets":
        """Build from numpy arrays or tensors, moving crowd entries to the end (order otherwise kept)."""
        boxes_t = _as_tensor(boxes, torch.float32).reshape(-1, 4)
        labels_t = _as_tensor(labels, torch.int64).reshape(-1)
        masks_t = _as_tensor(masks)
        if crowd_flags is None:
            return cls(boxes_t, labels_t, masks_t, 0)
        crowd = _as_tensor(crowd_flags, torch.bool).reshape(-1)
        if crowd.shape[0] != boxes_t.shape[0]:
            raise ValueError(f"crowd_flags has {crowd.shape[0]} entries for {boxes_t.shape[0]} boxes")
        # Stable sort on the flag: non-crowds first, crowds last, relative order preserved.
        order = torch.argsort(crowd.to(torch.int8), stable=True)
        return cls(boxes_t[order], labels_t[order], masks_t[order], int(crowd.sum()))

    @property
    def num_objects(self) -> int:
        """Number of non-crowd objects (the ones that are matched and trained)."""
        return int(self.boxes.shape[0]) - self.num_crowds

    def split_crowds(self) -> tuple["Targets", torch.Tensor]:
        """(non-crowd targets, crowd boxes [num_crowds,4])."""
        n = self.num_objects
        objs = Targets(self.boxes[:n], self.labels[:n], self.masks[:n], 0)
        return objs, self.boxes[n:]

    def to(self, device: torch.device | str) -> "Targets":
        return Targets(self.boxes.to(device), self.labels.to(device), self.masks.to(device), self.num_crowds)
