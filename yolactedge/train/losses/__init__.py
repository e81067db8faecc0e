"""Training losses; ``YolactLoss`` is the one the trainer uses."""
from yolactedge.train.losses.anchor import box_loss, mining_score, ohem_conf_loss, select_hard_negatives
from yolactedge.train.losses.mask import crop_masks, downsample_masks, image_mask_loss
from yolactedge.train.losses.semantic import image_semantic_loss, semantic_target
from yolactedge.train.losses.yolact import YolactLoss

__all__ = [
    "YolactLoss",
    "box_loss",
    "crop_masks",
    "downsample_masks",
    "image_mask_loss",
    "image_semantic_loss",
    "mining_score",
    "ohem_conf_loss",
    "select_hard_negatives",
    "semantic_target",
]
