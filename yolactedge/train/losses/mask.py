"""Prototype mask loss (lincomb) for one image, and the box crop it shares with inference."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from yolactedge.ops.masks import crop as crop_masks  # the same crop as inference


def downsample_masks(masks: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """GT masks [K,H,W] -> binary float [K,h,w] (bilinear, align_corners=False, > 0.5)."""
    if masks.shape[0] == 0:
        return masks.new_zeros((0, *size), dtype=torch.float32)
    resized = F.interpolate(masks[None].float(), size, mode="bilinear", align_corners=False)[0]
    return resized.gt(0.5).float()


def subsample_positives(
    num_pos: int, limit: int, device: torch.device, generator: torch.Generator | None
) -> torch.Tensor | None:
    """Random subset of at most ``limit`` positive indices, or None when no subsampling is needed."""
    if num_pos <= limit:
        return None
    gen_device = generator.device if generator is not None else torch.device("cpu")
    perm = torch.randperm(num_pos, generator=generator, device=gen_device)
    return perm[:limit].to(device)


def image_mask_loss(
    proto: torch.Tensor,
    coef: torch.Tensor,
    gt_masks: torch.Tensor,
    gt_boxes: torch.Tensor,
    masks_to_train: int,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Sum over this image's positives of cropped BCE / GT-box area in proto pixels.

    proto: [Hp,Wp,k]; coef: [n,k] coefficients of the positive priors; gt_masks: [n,Hp,Wp] binary
    targets of their matched GT; gt_boxes: [n,4] matched GT boxes. The original multiplies each
    instance by Hp*Wp and later divides the total by Hp*Wp; both factors are dropped here.
    When there are more than ``masks_to_train`` positives a random subset is used and scaled up
    by old/new count, so the expectation is unchanged.
    """
    num_pos = coef.shape[0]
    select = subsample_positives(num_pos, masks_to_train, coef.device, generator)
    scale = 1.0
    if select is not None:
        coef, gt_masks, gt_boxes = coef[select], gt_masks[select], gt_boxes[select]
        scale = num_pos / select.shape[0]
    hp, wp, _ = proto.shape
    # BCE on probabilities is banned under autocast (fp16 log underflow), so do this in fp32.
    with torch.autocast(proto.device.type, enabled=False):
        pred = torch.sigmoid(proto.float() @ coef.float().t())  # [Hp,Wp,n]
        pred = crop_masks(pred, gt_boxes.float())
        # Only the prediction is cropped (as the original): target pixels outside the box still count.
        bce = F.binary_cross_entropy(pred.clamp(0, 1), gt_masks.float().permute(1, 2, 0), reduction="none")
    box_w = (gt_boxes[:, 2] - gt_boxes[:, 0]).float() * wp
    box_h = (gt_boxes[:, 3] - gt_boxes[:, 1]).float() * hp
    return (bce.sum(dim=(0, 1)) / box_w / box_h).sum() * scale
