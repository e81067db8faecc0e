"""Losses of the video stages (spec 12.1): F, the flow end-point error of stage 2, and W, the
feature-matching loss of stage 3; D, an optional output distillation for stage 3 (ours).

Flow units: the flow network predicts resolution-independent units (spec 11.3/11.4). Ground truth
in image pixels becomes the original's supervision units with
:func:`~yolactedge.model.warp.image_flow_to_training_units` (u*2/W*8 at the network input size)
and is then bilinearly resized to each prediction's size *without* rescaling the values, exactly
as the original's ``OpticalFlowLoss``.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from yolactedge.model.outputs import YolactOutput
from yolactedge.model.warp import FLOW_UNIT_DIVISOR, image_flow_to_training_units

FM_KINDS = ("cosine", "l2")
FM_LOCATIONS = ("L", "P", "L+P")
# ``fpn_phase_2.pred_layers`` is stored top-down (index 0 = P5, 1 = P4, 2 = P3, spec 17.2).
PRED_LAYER_INDEX = {4: 1, 5: 0}


def resize_flow(flow: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Bilinear resize of a flow field in training units; the values are *not* rescaled (the units
    are fractions of the image extent, so they mean the same displacement at any resolution)."""
    if tuple(flow.shape[-2:]) == tuple(size):
        return flow
    return F.interpolate(flow, size=tuple(size), mode="bilinear", align_corners=False)


def end_point_error(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Average end-point error: L2 norm of the difference over the 2 flow channels, mean over
    pixels and batch. ``pred`` and ``target`` are [N,2,H,W] of the same size."""
    if pred.shape != target.shape:
        raise ValueError(f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")
    return torch.linalg.vector_norm(pred - target, dim=1).mean()


def flow_loss(
    preds: Sequence[torch.Tensor], target_units: torch.Tensor, weights: Sequence[float] | None = None
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Loss F: per predicted level, the EPE against the ground truth resized to that level; the
    total is the weighted sum over levels (weight 1 each, as the original).

    ``preds``: flows [N,2,h,w] (fine to coarse, e.g. the first item of each ``FeatFlowNet`` level);
    ``target_units``: [N,2,H,W] ground truth in training units at the network input resolution.
    Returns (total, per-level EPEs).
    """
    if not preds:
        raise ValueError("flow_loss needs at least one predicted flow")
    weights = [1.0] * len(preds) if weights is None else list(weights)
    if len(weights) != len(preds):
        raise ValueError(f"{len(weights)} weights for {len(preds)} flow levels")
    levels = [end_point_error(pred, resize_flow(target_units.to(pred.dtype), pred.shape[-2:])) for pred in preds]
    total = sum(w * level for w, level in zip(weights, levels))
    return total, levels  # type: ignore[return-value]


def image_flow_to_input(flow_px: torch.Tensor, input_size: Sequence[int]) -> torch.Tensor:
    """Ground-truth flow [N,2,H0,W0] in pixels of the original image -> pixels of the network input
    [N,2,Hin,Win]: the field is resized bilinearly and its values scaled by the resize factors
    (the images are resized to the input size without keeping the aspect ratio)."""
    h0, w0 = flow_px.shape[-2:]
    h, w = int(input_size[0]), int(input_size[1])
    if (h0, w0) == (h, w):
        return flow_px
    resized = F.interpolate(flow_px, size=(h, w), mode="bilinear", align_corners=False)
    scale = resized.new_tensor([w / w0, h / h0]).view(1, 2, 1, 1)
    return resized * scale


def flow_targets(flow_px: torch.Tensor, input_size: Sequence[int]) -> torch.Tensor:
    """What the loss is given: original-image pixel flow [N,2,H0,W0] -> training units at the
    network input size (``image_flow_to_training_units`` of the flow in input pixels)."""
    size = (int(input_size[0]), int(input_size[1]))
    return image_flow_to_training_units(image_flow_to_input(flow_px, size), size)


def training_units_to_pixels(flow_units: torch.Tensor, image_size: Sequence[int]) -> torch.Tensor:
    """Inverse of ``image_flow_to_training_units``: units -> pixels of an image of ``image_size``
    (any resolution: the units are fractions of the extent)."""
    h, w = int(image_size[0]), int(image_size[1])
    scale = flow_units.new_tensor([w / (2.0 * FLOW_UNIT_DIVISOR), h / (2.0 * FLOW_UNIT_DIVISOR)])
    return flow_units * scale.view(1, 2, 1, 1)


def cosine_distance(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Mean over pixels and batch of 1 - cosine similarity along channels.

    Where both vectors are zero (common after a ReLU) they are equal, so the distance is 0; the
    plain ``1 - F.cosine_similarity`` would charge 1 there even for identical inputs.
    """
    na = torch.linalg.vector_norm(a, dim=1)
    nb = torch.linalg.vector_norm(b, dim=1)
    cos = (a * b).sum(1) / (na * nb).clamp_min(eps)
    both_zero = (na <= eps) & (nb <= eps)
    return torch.where(both_zero, torch.zeros_like(cos), 1.0 - cos).mean()


def _detached_conv_relu(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """ReLU(conv(x)) with the conv's weights detached: gradients reach ``x`` only."""
    bias = conv.bias.detach() if conv.bias is not None else None
    return F.relu(F.conv2d(x, conv.weight.detach(), bias, conv.stride, conv.padding, conv.dilation, conv.groups))


def feature_matching_loss(
    targets: Sequence[torch.Tensor],
    preds: Sequence[torch.Tensor],
    pred_layers: Sequence[nn.Conv2d] | nn.ModuleList,
    loc: str = "L+P",
    kind: str = "cosine",
) -> torch.Tensor:
    """Loss W (stage 3): warped features against the same frame's features from the full network.

    ``targets``: phase-1 (M4, M5) of the annotated frame (full backbone; detached here);
    ``preds``: (W4', W5') of the warp pass (after SPA); ``pred_layers``: ``fpn_phase_2.pred_layers``.
    "L" pairs compare (M_l, W_l'); "P" pairs compare ReLU(pred_conv_l(.)) of both, with the
    phase-2 weights detached. The mean of the per-pair distances is returned.

    Fix of the original (spec 12.1 / 17.11): its level-5 "P" pair used ``pred_layers[2]`` (the P3
    conv, an index off by the reversed storage); here level 4 uses ``pred_layers[1]`` and level 5
    ``pred_layers[0]``, the convs that really make P4 and P5.
    """
    if loc not in FM_LOCATIONS:
        raise ValueError(f"loc must be one of {FM_LOCATIONS}, got {loc!r}")
    if kind not in FM_KINDS:
        raise ValueError(f"kind must be one of {FM_KINDS}, got {kind!r}")
    if len(targets) != 2 or len(preds) != 2:
        raise ValueError("feature matching compares levels 4 and 5: pass (M4, M5) and (W4', W5')")
    distance = cosine_distance if kind == "cosine" else (lambda a, b: F.mse_loss(b, a))
    pairs = []
    for level, target, pred in zip((4, 5), targets, preds):
        if target.shape != pred.shape:
            raise ValueError(f"level {level}: target {tuple(target.shape)} and warped {tuple(pred.shape)} differ")
        target = target.detach()
        if "L" in loc:
            pairs.append(distance(target, pred))
        if "P" in loc:
            conv = pred_layers[PRED_LAYER_INDEX[level]]
            pairs.append(distance(_detached_conv_relu(conv, target), _detached_conv_relu(conv, pred)))
    return torch.stack(pairs).mean()


def fresh_estimate_loss(
    targets: Sequence[torch.Tensor], estimates: Sequence[torch.Tensor | None],
    pred_layers: Sequence[nn.Conv2d] | nn.ModuleList,
) -> torch.Tensor:
    """Cosine distance of ``FreshTop``'s shallow estimates (M4 or None, M5) to the full network's
    (M4, M5) of the same frame, on the features ("L") and after the detached phase-2 conv ("P"), as
    loss W's "L+P" pairs; mean over pairs, in float32. Why: the gates alone give the shallow pass a
    gradient only where it is already trusted."""
    pairs = []
    for level, target, estimate in zip((4, 5), targets, estimates):
        if estimate is None:
            continue
        if target.shape != estimate.shape:
            raise ValueError(f"fresh estimate {tuple(estimate.shape)} and target {tuple(target.shape)} differ")
        target, estimate = target.detach().float(), estimate.float()
        conv = pred_layers[PRED_LAYER_INDEX[level]]
        pairs += [cosine_distance(target, estimate),
                  cosine_distance(_detached_conv_relu(conv, target), _detached_conv_relu(conv, estimate))]
    return torch.stack(pairs).mean()


def output_distillation_loss(teacher: YolactOutput, student: YolactOutput) -> torch.Tensor:
    """Loss D (not the original's; ``distill_alpha``, off by default): the warped pass's head
    outputs against the full network's on the same frame (the teacher, detached).

    Why: most of what warping loses is the *class* of objects it still finds, and the detection
    losses see only the matched anchors and a few hard negatives; the teacher's class distribution
    is a target for every anchor. Parts, each a weighted mean, summed:
    class: KL(teacher || student) of the softmax per anchor, weighted by the larger of the two
    foreground probabilities (anchors both call background would otherwise dilute it);
    box offsets and mask coefficients: smooth L1, weighted by the teacher's foreground probability;
    prototypes: smooth L1, mean over pixels.
    """
    for name in ("loc", "conf", "mask", "proto"):
        a, b = getattr(teacher, name), getattr(student, name)
        if a.shape != b.shape:
            raise ValueError(f"distillation: teacher {name} {tuple(a.shape)} and student {tuple(b.shape)} differ")
    t_log = F.log_softmax(teacher.conf.detach().float(), dim=-1)
    s_log = F.log_softmax(student.conf.float(), dim=-1)
    t_fg = 1.0 - t_log[..., 0].exp()
    weight = torch.maximum(t_fg, 1.0 - s_log[..., 0].exp()).detach()
    kl = (t_log.exp() * (t_log - s_log)).sum(-1)
    terms = [(weight * kl).sum() / weight.sum().clamp_min(1e-6)]
    norm = t_fg.sum().clamp_min(1e-6)
    for name in ("loc", "mask"):
        diff = F.smooth_l1_loss(getattr(student, name).float(), getattr(teacher, name).detach().float(),
                                reduction="none").sum(-1)
        terms.append((t_fg * diff).sum() / norm)
    terms.append(F.smooth_l1_loss(student.proto.float(), teacher.proto.detach().float()))
    return torch.stack(terms).sum()
