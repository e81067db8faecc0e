"""Anchor-level losses: box regression and OHEM classification (sums; the caller divides by N)."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def box_loss(loc: torch.Tensor, loc_t: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """Smooth-L1 (beta 1) summed over the 4 offsets of every positive prior.

    loc, loc_t: [B,P,4]; pos: [B,P] bool.
    """
    return F.smooth_l1_loss(loc[pos], loc_t[pos], reduction="sum", beta=1.0)


def mining_score(conf: torch.Tensor) -> torch.Tensor:
    """Hardness of each prior as a negative: logsumexp(logits) - logit_background.

    Uses the single global max for stability, as the original does, so the ranking (and its
    float rounding) matches. conf: [B,P,C] -> [B,P].
    """
    x_max = conf.max()
    return torch.log(torch.exp(conf - x_max).sum(-1)) + x_max - conf[..., 0]


def select_hard_negatives(
    conf: torch.Tensor, conf_t: torch.Tensor, negpos_ratio: int
) -> torch.Tensor:
    """Per image, the ``min(ratio*#pos, P-1)`` highest-scoring background priors. -> [B,P] bool.

    Positives and neutrals are scored 0 so they sort last, and are excluded again afterwards in
    case an image has fewer true negatives than requested.
    """
    pos = conf_t > 0
    with torch.no_grad():
        score = mining_score(conf.detach())
        score = score.masked_fill(conf_t != 0, 0.0)
        order = score.argsort(dim=1, descending=True, stable=True)
        rank = order.argsort(dim=1)
        num_neg = (negpos_ratio * pos.sum(1, keepdim=True)).clamp(max=pos.shape[1] - 1)
        return (rank < num_neg) & (conf_t == 0)


def ohem_conf_loss(conf: torch.Tensor, conf_t: torch.Tensor, negpos_ratio: int) -> torch.Tensor:
    """Softmax cross-entropy summed over positives and mined negatives.

    conf: [B,P,C] raw logits; conf_t: [B,P] int64 (-1 neutral, 0 background, c>0 class c-1).
    """
    keep = (conf_t > 0) | select_hard_negatives(conf, conf_t, negpos_ratio)
    return F.cross_entropy(conf[keep], conf_t[keep], reduction="sum")
