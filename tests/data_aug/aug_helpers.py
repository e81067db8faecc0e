"""Hand-built samples for the augmentation tests."""
from __future__ import annotations

import numpy as np

from yolactedge.data.preprocess import PreprocessConfig
from yolactedge.data.sample import Sample


def make_sample(
    height: int, width: int, boxes: list[list[int]], crowd: list[bool] | None = None, seed: int = 0
) -> Sample:
    """Random image whose masks fill their (integer) boxes exactly, so mask and box can be compared."""
    rng = np.random.default_rng(seed)
    image = rng.integers(1, 255, (height, width, 3), dtype=np.uint8)
    box_arr = np.asarray(boxes, np.float32).reshape(-1, 4)
    masks = np.zeros((len(box_arr), height, width), np.uint8)
    for k, (x1, y1, x2, y2) in enumerate(box_arr.astype(int)):
        masks[k, y1:y2, x1:x2] = 1
    flags = np.zeros(len(box_arr), bool) if crowd is None else np.asarray(crowd, bool)
    return Sample(image, box_arr, np.arange(len(box_arr), dtype=np.int64), masks, flags)


def raw_preprocess(height: int, width: int, mean=(10.0, 20.0, 30.0)) -> PreprocessConfig:
    """Output = BGR pixel - mean, CHW: easy to read back in tests."""
    return PreprocessConfig(input_size=(height, width), mean=mean, std=(1.0, 1.0, 1.0), to_rgb=False)


def mask_box(mask: np.ndarray) -> list[int]:
    """Pixel-edge bounding box x1y1x2y2 of a binary mask."""
    ys, xs = np.nonzero(mask)
    return [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]
