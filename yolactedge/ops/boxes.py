"""Box arithmetic shared by priors, matching, decoding and NMS (all boxes relative unless said)."""
from __future__ import annotations

import torch

VARIANCES = (0.1, 0.2)


def point_form(boxes: torch.Tensor) -> torch.Tensor:
    """(cx, cy, w, h) -> (x1, y1, x2, y2)."""
    return torch.cat((boxes[..., :2] - boxes[..., 2:] / 2, boxes[..., :2] + boxes[..., 2:] / 2), -1)


def center_size(boxes: torch.Tensor) -> torch.Tensor:
    """(x1, y1, x2, y2) -> (cx, cy, w, h)."""
    return torch.cat(((boxes[..., 2:] + boxes[..., :2]) / 2, boxes[..., 2:] - boxes[..., :2]), -1)


def intersect(box_a: torch.Tensor, box_b: torch.Tensor) -> torch.Tensor:
    """Pairwise intersection areas; [..., A, 4] x [..., B, 4] -> [..., A, B]."""
    max_xy = torch.min(box_a[..., :, None, 2:], box_b[..., None, :, 2:])
    min_xy = torch.max(box_a[..., :, None, :2], box_b[..., None, :, :2])
    wh = (max_xy - min_xy).clamp(min=0)
    return wh[..., 0] * wh[..., 1]


def box_area(boxes: torch.Tensor) -> torch.Tensor:
    return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])


def jaccard(box_a: torch.Tensor, box_b: torch.Tensor, iscrowd: bool = False) -> torch.Tensor:
    """Pairwise IoU (or intersection over ``box_a`` area when ``iscrowd``); batched over leading dims."""
    inter = intersect(box_a, box_b)
    area_a = box_area(box_a)[..., :, None]
    area_b = box_area(box_b)[..., None, :]
    union = area_a if iscrowd else area_a + area_b - inter
    return inter / union


def encode(matched: torch.Tensor, priors: torch.Tensor, variances: tuple[float, float] = VARIANCES) -> torch.Tensor:
    """Regression targets for x1y1x2y2 ground truth against (cx,cy,w,h) priors (SSD style)."""
    g_cxcy = ((matched[:, :2] + matched[:, 2:]) / 2 - priors[:, :2]) / (variances[0] * priors[:, 2:])
    g_wh = torch.log((matched[:, 2:] - matched[:, :2]) / priors[:, 2:]) / variances[1]
    return torch.cat([g_cxcy, g_wh], 1)


def decode(loc: torch.Tensor, priors: torch.Tensor, variances: tuple[float, float] = VARIANCES) -> torch.Tensor:
    """Network offsets -> x1y1x2y2 boxes (not clipped); works on [..., P, 4]."""
    cxcy = priors[..., :2] + loc[..., :2] * variances[0] * priors[..., 2:]
    wh = priors[..., 2:] * torch.exp(loc[..., 2:] * variances[1])
    x1y1 = cxcy - wh / 2
    return torch.cat((x1y1, x1y1 + wh), -1)


def sanitize_coordinates(
    x1: torch.Tensor, x2: torch.Tensor, size: int, padding: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scale relative coordinates to ``size`` pixels, order them and clamp to [0, size] with padding."""
    x1 = x1 * size
    x2 = x2 * size
    lo = torch.min(x1, x2)
    hi = torch.max(x1, x2)
    return (lo - padding).clamp(min=0), (hi + padding).clamp(max=size)
