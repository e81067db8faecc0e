"""What the network returns: a NamedTuple (traceable, no dicts inside the network)."""
from __future__ import annotations

from typing import NamedTuple, Optional

import torch


class KeyframeState(NamedTuple):
    """What a keyframe leaves for the following non-keyframes (detached).

    feats: phase-1 FPN features (M3, M4, M5); lateral: the C3 lateral L3;
    flow_features: the flow net's pre-conv on L3 (cached instead of recomputed per frame);
    proto: prototypes [N,Hp,Wp,k] (for prototype reuse); levels: the FPN outputs P3..P7;
    head_outputs: per level (loc, conf logits, coefficients), for head reuse.
    """

    feats: tuple[torch.Tensor, ...]
    lateral: torch.Tensor
    flow_features: Optional[torch.Tensor] = None
    proto: Optional[torch.Tensor] = None
    levels: Optional[tuple[torch.Tensor, ...]] = None
    head_outputs: Optional[tuple[tuple[torch.Tensor, ...], ...]] = None


class YolactOutput(NamedTuple):
    """loc [N,P,4] offsets; conf [N,P,C] softmax probabilities in eval, logits in training;
    mask [N,P,k] coefficients after tanh; priors [P,4] (cx,cy,w,h); proto [N,Hp,Wp,k];
    segm [N,C-1,H3,W3] logits (training only); state: the keyframe cache (video presets)."""

    loc: torch.Tensor
    conf: torch.Tensor
    mask: torch.Tensor
    priors: torch.Tensor
    proto: torch.Tensor
    segm: Optional[torch.Tensor] = None
    state: Optional[KeyframeState] = None
