"""Backward feature warping with the original's flow units and sampling convention.

One flow unit is 1/8 of a normalised half-extent (align-corners grid), i.e. (w-1)/16 pixels at
that level; output(p) = feature(p + d(p)), channel 0 horizontal, zeros outside.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

FLOW_UNIT_DIVISOR = 8.0


def base_grid(n: int, h: int, w: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """[n,h,w,2] normalised (x, y) pixel-centre grid in the align-corners convention."""
    xs = torch.linspace(-1.0, 1.0, w, device=device, dtype=dtype) if w > 1 else torch.zeros(1, device=device, dtype=dtype)
    ys = torch.linspace(-1.0, 1.0, h, device=device, dtype=dtype) if h > 1 else torch.zeros(1, device=device, dtype=dtype)
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), -1)
    return grid.unsqueeze(0).expand(n, h, w, 2)


def warp(features: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Sample ``features`` [n,c,h,w] at p + flow(p); ``flow`` [n,2,h,w] in the original's units."""
    if features.shape[-2:] != flow.shape[-2:]:
        raise ValueError(f"flow size {tuple(flow.shape[-2:])} differs from feature size {tuple(features.shape[-2:])}")
    n, _, h, w = features.shape
    grid = base_grid(n, h, w, features.device, features.dtype) + flow.permute(0, 2, 3, 1) / FLOW_UNIT_DIVISOR
    return F.grid_sample(features, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def pixels_to_flow_units(flow_px: torch.Tensor) -> torch.Tensor:
    """Pixel displacement [n,2,h,w] at a level -> the sampler's units (exact inverse of ``warp``)."""
    h, w = flow_px.shape[-2:]
    scale = flow_px.new_tensor([2.0 * FLOW_UNIT_DIVISOR / max(w - 1, 1), 2.0 * FLOW_UNIT_DIVISOR / max(h - 1, 1)])
    return flow_px * scale.view(1, 2, 1, 1)


def image_flow_to_training_units(flow_px: torch.Tensor, image_size: tuple[int, int]) -> torch.Tensor:
    """Image-resolution pixel flow -> the original's supervision units (u*2/W*8, v*2/H*8).

    The original normalises ground truth by 2/W while the sampler uses 2/(w-1); we keep its
    convention for training targets so original checkpoints and our training agree.
    """
    h, w = image_size
    scale = flow_px.new_tensor([2.0 * FLOW_UNIT_DIVISOR / w, 2.0 * FLOW_UNIT_DIVISOR / h])
    return flow_px * scale.view(1, 2, 1, 1)
