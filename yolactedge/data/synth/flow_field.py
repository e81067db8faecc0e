"""Exact optical flow from known per-layer affine poses.

A pixel p showing layer k at time t shows the sprite point P_t^-1 p; at time t+1 that point is at
P_{t+1} P_t^-1 p. So flow(p) = P_{t+1} P_t^-1 p - p, evaluated with the layer visible at p in
frame t (frame_t(p) ~ frame_{t+1}(p + flow(p))). Pixels whose point is hidden or leaves the
image at t+1 still get their layer's motion; ``valid_flow`` tells them apart.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


def layer_flow(owner: np.ndarray, poses_t: Sequence[np.ndarray], poses_t1: Sequence[np.ndarray]) -> np.ndarray:
    """HxWx2 float32 flow (u = dx, v = dy, pixels) from frame t to t+1."""
    if len(poses_t) != len(poses_t1):
        raise ValueError(f"{len(poses_t)} poses at t but {len(poses_t1)} at t+1")
    motions = np.stack([p1 @ np.linalg.inv(p0) for p0, p1 in zip(poses_t, poses_t1)])[:, :2, :]
    height, width = owner.shape
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    m = motions[owner]  # H x W x 2 x 3
    u = m[..., 0, 0] * xs + m[..., 0, 1] * ys + m[..., 0, 2] - xs
    v = m[..., 1, 0] * xs + m[..., 1, 1] * ys + m[..., 1, 2] - ys
    return np.stack([u, v], axis=-1).astype(np.float32)


def valid_flow(flow: np.ndarray, owner_t: np.ndarray, owner_t1: np.ndarray) -> np.ndarray:
    """HxW bool: the pixel's target lies inside frame t+1 and shows the same layer there."""
    height, width = owner_t.shape
    ys, xs = np.mgrid[0:height, 0:width]
    tx = np.rint(xs + flow[..., 0]).astype(np.int64)
    ty = np.rint(ys + flow[..., 1]).astype(np.int64)
    inside = (tx >= 0) & (tx < width) & (ty >= 0) & (ty < height)
    same = np.zeros_like(inside)
    same[inside] = owner_t1[ty[inside], tx[inside]] == owner_t[inside]
    return same
