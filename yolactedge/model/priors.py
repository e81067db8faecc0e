"""Anchor boxes exactly as the original ``make_priors`` (including its square-anchor behaviour)."""
from __future__ import annotations

import math

import numpy as np
import torch


def make_level_priors(
    conv_h: int,
    conv_w: int,
    scales: tuple[float, ...],
    aspect_ratios: tuple[float, ...],
    input_size: tuple[int, int],
    square_anchors: bool = True,
) -> np.ndarray:
    """[conv_h*conv_w*A, 4] (cx, cy, w, h) relative, ordered (row, column, anchor).

    Computed in float64 like the original's Python floats, then cast to float32.
    Pixel sizes are divided by the input width/height; at a square input this equals the
    original's division by ``max_size``. With ``square_anchors`` the height equals the width in
    pixels (the original sets h := w in relative units, which is the same at square inputs).
    """
    in_h, in_w = input_size
    ys, xs = np.meshgrid(np.arange(conv_h), np.arange(conv_w), indexing="ij")
    cx = (xs + 0.5) / conv_w
    cy = (ys + 0.5) / conv_h
    sizes = []
    for scale in scales:
        for ratio in aspect_ratios:
            root = math.sqrt(ratio)
            w_px = scale * root
            h_px = w_px if square_anchors else scale / root
            sizes.append((w_px / in_w, h_px / in_h))
    num_anchors = len(sizes)
    out = np.empty((conv_h, conv_w, num_anchors, 4), np.float64)
    out[..., 0] = cx[..., None]
    out[..., 1] = cy[..., None]
    out[..., 2] = np.array([s[0] for s in sizes])
    out[..., 3] = np.array([s[1] for s in sizes])
    return out.reshape(-1, 4).astype(np.float32)


class PriorCache:
    """Priors per set of feature-map sizes; rebuilt only when sizes or device change."""

    def __init__(self, scales, aspect_ratios, input_size, square_anchors: bool = True):
        self.scales = scales
        self.aspect_ratios = aspect_ratios
        self.input_size = tuple(input_size)
        self.square_anchors = square_anchors
        self._cache: dict[tuple, torch.Tensor] = {}

    def __call__(self, sizes: list[tuple[int, int]], device: torch.device, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        key = (tuple(sizes), str(device), dtype)
        if key not in self._cache:
            levels = [
                make_level_priors(h, w, self.scales[i], self.aspect_ratios, self.input_size, self.square_anchors)
                for i, (h, w) in enumerate(sizes)
            ]
            self._cache[key] = torch.from_numpy(np.concatenate(levels, 0)).to(device=device, dtype=dtype)
        return self._cache[key]
