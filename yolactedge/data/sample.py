"""The one in-memory record every dataset yields, so augmentation and losses never care where data came from."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Sample:
    """One annotated image.

    image:  HxWx3 uint8 BGR (as cv2.imread returns it)
    boxes:  [K,4] float32, absolute pixel x1y1x2y2
    labels: [K] int64, 0-based foreground class index (background is not a class here)
    masks:  [K,H,W] uint8 in {0,1}
    crowd:  [K] bool, COCO ``iscrowd`` regions (ignored by matching, not trained as objects)
    """

    image: np.ndarray
    boxes: np.ndarray
    labels: np.ndarray
    masks: np.ndarray
    crowd: np.ndarray
    image_id: int = 0
    path: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @staticmethod
    def empty_targets(height: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return (
            np.zeros((0, 4), np.float32),
            np.zeros((0,), np.int64),
            np.zeros((0, height, width), np.uint8),
            np.zeros((0,), bool),
        )
