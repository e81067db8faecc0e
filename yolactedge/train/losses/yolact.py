"""The full YOLACT / YolactEdge training loss (the original ``MultiBoxLoss``, OHEM variant; spec §12.1)."""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from yolactedge.train.losses.anchor import box_loss, ohem_conf_loss
from yolactedge.train.losses.mask import downsample_masks, image_mask_loss
from yolactedge.train.losses.semantic import image_semantic_loss
from yolactedge.train.matcher import match
from yolactedge.train.targets import Targets


class YolactLoss(nn.Module):
    """Box + class + mask (+ semantic) loss.

    ``forward(out, targets)`` takes any object with ``loc`` [B,P,4], ``conf`` [B,P,C], ``mask``
    [B,P,k], ``priors`` [P,4], ``proto`` [B,Hp,Wp,k] and (if ``use_semantic``) ``segm``
    [B,C-1,H3,W3], plus one :class:`Targets` per image. Box, class and mask losses are divided by
    N, the number of positive priors in the whole batch (at least 1 so an all-background batch
    stays finite); the semantic loss by the batch size.
    """

    def __init__(
        self,
        num_classes: int,
        pos_thresh: float = 0.5,
        neg_thresh: float = 0.4,
        crowd_iou_thresh: float = 0.7,
        negpos_ratio: int = 3,
        bbox_alpha: float = 1.5,
        conf_alpha: float = 1.0,
        mask_alpha: float = 6.125,
        masks_to_train: int = 100,
        semantic_alpha: float = 1.0,
        use_semantic: bool = True,
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.pos_thresh = pos_thresh
        self.neg_thresh = neg_thresh
        self.crowd_iou_thresh = crowd_iou_thresh
        self.negpos_ratio = negpos_ratio
        self.bbox_alpha = bbox_alpha
        self.conf_alpha = conf_alpha
        self.mask_alpha = mask_alpha
        self.masks_to_train = masks_to_train
        self.semantic_alpha = semantic_alpha
        self.use_semantic = use_semantic

    def match_batch(
        self, priors: torch.Tensor, targets: Sequence[Targets]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Run the matcher per image and stack: loc_t [B,P,4], conf_t [B,P], idx_t [B,P], boxes [B,P,4]."""
        per_image = [
            match(
                self.pos_thresh,
                self.neg_thresh,
                t.boxes.to(priors),
                priors,
                t.labels.to(priors.device),
                t.num_crowds,
                self.crowd_iou_thresh,
            )
            for t in targets
        ]
        return tuple(torch.stack(parts) for parts in zip(*per_image))  # type: ignore[return-value]

    def forward(
        self, out: Any, targets: Sequence[Targets], generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        batch = out.loc.shape[0]
        if len(targets) != batch:
            raise ValueError(f"{len(targets)} targets for a batch of {batch}")
        if out.conf.shape[-1] != self.num_classes:
            raise ValueError(f"conf has {out.conf.shape[-1]} classes, loss built for {self.num_classes}")
        priors = out.priors.detach()
        with torch.no_grad():
            loc_t, conf_t, idx_t, gt_box_t = self.match_batch(priors, targets)
        pos = conf_t > 0
        num_pos = pos.sum().clamp(min=1).float()

        mask = self._mask_loss(out, targets, pos, idx_t, gt_box_t, generator)
        losses = {
            "box": box_loss(out.loc, loc_t, pos) * self.bbox_alpha / num_pos,
            "class": ohem_conf_loss(out.conf, conf_t, self.negpos_ratio) * self.conf_alpha / num_pos,
            "mask": mask * self.mask_alpha / num_pos,
        }
        if self.use_semantic:
            losses["semantic"] = self._semantic_loss(out.segm, targets) * self.semantic_alpha / batch
        else:
            losses["semantic"] = out.loc.new_zeros(())
        losses["total"] = losses["box"] + losses["class"] + losses["mask"] + losses["semantic"]
        return losses

    def _mask_loss(
        self,
        out: Any,
        targets: Sequence[Targets],
        pos: torch.Tensor,
        idx_t: torch.Tensor,
        gt_box_t: torch.Tensor,
        generator: torch.Generator | None,
    ) -> torch.Tensor:
        """Sum of per-image mask losses (crowd masks are never targets: idx_t only points at objects)."""
        proto = out.proto
        total = proto.new_zeros(())
        size = (proto.shape[1], proto.shape[2])
        for b, t in enumerate(targets):
            cur = pos[b]
            if t.num_objects == 0 or not bool(cur.any()):
                continue
            with torch.no_grad():
                small = downsample_masks(t.masks[: t.num_objects], size).to(proto)
            cur_idx = idx_t[b, cur]
            total = total + image_mask_loss(
                proto[b], out.mask[b, cur], small[cur_idx], gt_box_t[b, cur], self.masks_to_train, generator
            )
        return total

    def _semantic_loss(self, segm: torch.Tensor, targets: Sequence[Targets]) -> torch.Tensor:
        """Sum over images; images without objects get an all-zero target, as the original's formula."""
        total = segm.new_zeros(())
        for b, t in enumerate(targets):
            n = t.num_objects
            total = total + image_semantic_loss(segm[b], t.masks[:n], t.labels[:n])
        return total
