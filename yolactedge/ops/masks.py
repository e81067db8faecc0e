"""Mask assembly: prototypes x coefficients -> sigmoid -> box crop -> upsample -> threshold."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from yolactedge.ops.boxes import sanitize_coordinates


def crop(masks: torch.Tensor, boxes: torch.Tensor, padding: float = 1.0) -> torch.Tensor:
    """Zero ``masks`` [h,w,n] outside the relative ``boxes`` [n,4], padded by ``padding`` proto pixels."""
    h, w, _ = masks.shape
    x1, x2 = sanitize_coordinates(boxes[:, 0], boxes[:, 2], w, padding)
    y1, y2 = sanitize_coordinates(boxes[:, 1], boxes[:, 3], h, padding)
    cols = torch.arange(w, device=masks.device, dtype=x1.dtype).view(1, -1, 1)
    rows = torch.arange(h, device=masks.device, dtype=y1.dtype).view(-1, 1, 1)
    inside = (cols >= x1) & (cols < x2) & (rows >= y1) & (rows < y2)
    return masks * inside.to(masks.dtype)


def mask_logits_to_probs(proto: torch.Tensor, coefs: torch.Tensor, boxes: torch.Tensor | None) -> torch.Tensor:
    """[Hp,Wp,k] x [n,k] -> cropped probabilities [n,Hp,Wp] at prototype resolution."""
    masks = torch.sigmoid(proto @ coefs.t())
    if boxes is not None:
        masks = crop(masks, boxes)
    return masks.permute(2, 0, 1).contiguous()


def assemble_masks(
    proto: torch.Tensor,
    coefs: torch.Tensor,
    boxes: torch.Tensor,
    out_size: tuple[int, int],
    crop_masks: bool = True,
    threshold: float = 0.5,
) -> torch.Tensor:
    """Full-resolution binary masks [n,h,w] (bool) for one image, as the original ``postprocess``."""
    if coefs.shape[0] == 0:
        return torch.zeros((0, *out_size), dtype=torch.bool, device=proto.device)
    probs = mask_logits_to_probs(proto, coefs, boxes if crop_masks else None)
    probs = F.interpolate(probs.unsqueeze(0), size=out_size, mode="bilinear", align_corners=False).squeeze(0)
    return probs > threshold


def mask_boxes(masks: torch.Tensor, fallback: torch.Tensor) -> torch.Tensor:
    """Tight pixel boxes x1y1x2y2 (x2, y2 exclusive) of binary masks [n,h,w]; ``fallback`` [n,4] where
    a mask is empty."""
    n, h, w = masks.shape
    if n == 0:
        return fallback
    rows, cols = masks.any(2), masks.any(1)
    y1 = rows.to(torch.uint8).argmax(1)
    y2 = h - rows.flip(1).to(torch.uint8).argmax(1)
    x1 = cols.to(torch.uint8).argmax(1)
    x2 = w - cols.flip(1).to(torch.uint8).argmax(1)
    tight = torch.stack((x1, y1, x2, y2), 1).to(fallback.dtype)
    return torch.where(rows.any(1, keepdim=True), tight, fallback)


def boxes_to_pixels(boxes: torch.Tensor, out_size: tuple[int, int]) -> torch.Tensor:
    """Relative x1y1x2y2 -> ordered, clamped pixel boxes (float; the original truncates to int)."""
    h, w = out_size
    x1, x2 = sanitize_coordinates(boxes[:, 0], boxes[:, 2], w)
    y1, y2 = sanitize_coordinates(boxes[:, 1], boxes[:, 3], h)
    return torch.stack((x1, y1, x2, y2), 1)
