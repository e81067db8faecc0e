"""Non-maximum suppression: Fast NMS (the original's eval default) and traditional greedy NMS."""
from __future__ import annotations

import numpy as np
import torch

from yolactedge.ops.boxes import jaccard


def fast_nms(
    boxes: torch.Tensor,
    coefs: torch.Tensor,
    scores: torch.Tensor,
    iou_thresh: float = 0.5,
    top_k: int = 200,
    max_det: int = 100,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """YOLACT's Fast NMS over candidates of every class at once.

    boxes [N,4], coefs [N,k], scores [C-1,N] (foreground classes x candidates).
    Per class: the top_k candidates by score; candidate j is dropped when its IoU with any
    higher-scoring candidate of its class exceeds ``iou_thresh`` (suppressed ones still
    suppress: that is what makes it a single matrix operation). No second score threshold.
    Returns boxes, coefs, classes (0-based foreground), scores sorted by score, at most max_det.
    """
    scores, idx = scores.sort(1, descending=True)
    idx = idx[:, :top_k].contiguous()
    scores = scores[:, :top_k]
    num_classes, num_dets = idx.shape
    boxes = boxes[idx.view(-1)].view(num_classes, num_dets, 4)
    coefs = coefs[idx.view(-1)].view(num_classes, num_dets, -1)
    iou = jaccard(boxes, boxes).triu_(diagonal=1)
    iou_max, _ = iou.max(dim=1)
    keep = iou_max <= iou_thresh
    classes = torch.arange(num_classes, device=boxes.device)[:, None].expand_as(keep)[keep]
    boxes, coefs, scores = boxes[keep], coefs[keep], scores[keep]
    scores, order = scores.sort(0, descending=True)
    order = order[:max_det]
    return boxes[order], coefs[order], classes[order], scores[:max_det]


def greedy_nms(boxes: np.ndarray, scores: np.ndarray, iou_thresh: float) -> np.ndarray:
    """Classic greedy NMS (py-faster-rcnn convention: pixel boxes, areas with +1). Returns kept indices.

    The loop runs once per *kept* box; each step is vectorised over the remaining ones.
    """
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = scores.argsort(kind="stable")[::-1]
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + 1)
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + 1)
        inter = w * h
        iou = inter / (areas[i] + areas[rest] - inter)
        order = rest[iou <= iou_thresh]
    return np.asarray(keep, np.int64)


def traditional_nms(
    boxes: torch.Tensor,
    coefs: torch.Tensor,
    scores: torch.Tensor,
    iou_thresh: float = 0.5,
    conf_thresh: float = 0.05,
    max_det: int = 100,
    pixel_scale: float = 550.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-class greedy NMS on candidates whose class score exceeds ``conf_thresh`` (the original's
    Cython path, boxes scaled to pixels). Classes are separated by offsetting their boxes, so one
    greedy pass handles all classes."""
    cls_idx, det_idx = torch.nonzero(scores > conf_thresh, as_tuple=True)
    if cls_idx.numel() == 0:
        empty = boxes.new_zeros((0, 4))
        return empty, coefs.new_zeros((0, coefs.shape[1])), cls_idx, scores.new_zeros((0,))
    cand_scores = scores[cls_idx, det_idx]
    pix = boxes[det_idx].detach().cpu().double().numpy() * pixel_scale
    offset = (pix.max() - pix.min() + 2.0) * cls_idx.cpu().numpy()[:, None]
    keep = greedy_nms(pix + offset, cand_scores.detach().cpu().double().numpy(), iou_thresh)
    keep_t = torch.from_numpy(keep).to(boxes.device)
    kept_scores, order = cand_scores[keep_t].sort(0, descending=True)
    sel = keep_t[order[:max_det]]
    return boxes[det_idx[sel]], coefs[det_idx[sel]], cls_idx[sel], kept_scores[:max_det]
