"""Anchor (prior) to ground-truth assignment, reproducing the original ``match`` (spec §8)."""
from __future__ import annotations

import torch

from yolactedge.ops.boxes import encode, jaccard, point_form

# Overlap given to force-matched priors so no threshold can ever demote them.
FORCED_OVERLAP = 2.0


def _force_match(overlaps: torch.Tensor, best_overlap: torch.Tensor, best_idx: torch.Tensor) -> None:
    """Give every GT at least one prior, greedily from the globally highest IoU (in place).

    Row-major argmax picks the lowest GT index among ties, then the lowest prior index within that
    row, which is the order the original's two nested ``max`` calls give. Kept on-device (no
    ``.item()``) so it never synchronises.
    """
    num_gt, num_priors = overlaps.shape
    overlaps = overlaps.clone()
    for _ in range(num_gt):
        flat = overlaps.view(-1).argmax().view(1)
        j = torch.div(flat, num_priors, rounding_mode="floor")
        i = flat - j * num_priors
        overlaps.index_fill_(1, i, -1.0)
        overlaps.index_fill_(0, j, -1.0)
        best_overlap.index_fill_(0, i, FORCED_OVERLAP)
        best_idx.index_copy_(0, i, j)


def match(
    pos_thresh: float,
    neg_thresh: float,
    gt_boxes: torch.Tensor,
    priors: torch.Tensor,
    gt_labels: torch.Tensor,
    num_crowds: int = 0,
    crowd_iou_thresh: float = 0.7,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Assign each prior a GT object, a class target and a box regression target.

    gt_boxes:  [K,4] relative x1y1x2y2, crowd boxes last (``num_crowds`` of them)
    priors:    [P,4] relative (cx,cy,w,h)
    gt_labels: [K] 0-based foreground labels (crowd labels ignored)

    Returns ``loc_t`` [P,4] encoded offsets, ``conf_t`` [P] int64 (label+1, 0 background,
    -1 neutral), ``idx_t`` [P] int64 index of the matched non-crowd GT, and ``matched_boxes`` [P,4]
    (that GT's box). ``loc_t``/``idx_t``/``matched_boxes`` are only meaningful where ``conf_t > 0``.
    """
    num_objs = gt_boxes.shape[0] - num_crowds
    truths, crowd_boxes = gt_boxes[:num_objs], gt_boxes[num_objs:]
    labels = gt_labels[:num_objs]
    num_priors = priors.shape[0]
    prior_boxes = point_form(priors)

    if num_objs > 0:
        overlaps = jaccard(truths, prior_boxes)  # [K,P]
        best_overlap, best_idx = overlaps.max(0)
        _force_match(overlaps, best_overlap, best_idx)
        matched_boxes = truths[best_idx]
        conf_t = labels[best_idx].to(torch.int64) + 1
        conf_t[best_overlap < pos_thresh] = -1
        conf_t[best_overlap < neg_thresh] = 0
        loc_t = encode(matched_boxes, priors)
    else:
        # No objects: everything is background (the original cannot get here; augmentation resamples).
        best_idx = torch.zeros(num_priors, dtype=torch.int64, device=priors.device)
        conf_t = torch.zeros(num_priors, dtype=torch.int64, device=priors.device)
        matched_boxes = torch.zeros_like(priors)
        loc_t = torch.zeros_like(priors)

    if num_crowds > 0 and crowd_iou_thresh < 1:
        # Fraction of each prior covered by a crowd region (intersection over prior area).
        crowd_cover = jaccard(prior_boxes, crowd_boxes, iscrowd=True).max(1).values  # [P]
        conf_t[(conf_t <= 0) & (crowd_cover > crowd_iou_thresh)] = -1

    return loc_t, conf_t, best_idx, matched_boxes
