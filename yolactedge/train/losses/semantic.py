"""Auxiliary semantic segmentation loss on P3 (training only; spec §6.3, §12.1)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from yolactedge.train.losses.mask import downsample_masks


def semantic_target(
    masks: torch.Tensor, labels: torch.Tensor, num_fg: int, size: tuple[int, int]
) -> torch.Tensor:
    """Per-class union of the binarised downsampled masks -> [num_fg,h,w] float in {0,1}.

    masks: [K,H,W] non-crowd GT masks; labels: [K] 0-based. A one-hot matmul replaces the original
    per-object max loop: with binary masks, "any object of class c covers the pixel" is the max.
    """
    small = downsample_masks(masks, size)  # [K,h,w]
    onehot = F.one_hot(labels.to(small.device, torch.int64), num_fg).to(small.dtype)  # [K,num_fg]
    hits = onehot.t() @ small.reshape(small.shape[0], size[0] * size[1])  # [num_fg,h*w]
    return hits.gt(0).to(small.dtype).reshape(num_fg, *size)


def image_semantic_loss(segm: torch.Tensor, masks: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """BCE-with-logits summed over classes and pixels, / (h*w). segm: [C-1,h,w] logits of one image."""
    num_fg, h, w = segm.shape
    with torch.no_grad():
        target = semantic_target(masks, labels, num_fg, (h, w)).to(segm)
    return F.binary_cross_entropy_with_logits(segm, target, reduction="sum") / (h * w)
