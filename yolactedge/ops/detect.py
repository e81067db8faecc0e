"""From raw network outputs to final detections, shared by every backend (PyTorch, ONNX, OpenVINO, TensorRT)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from yolactedge.config.schema import PostprocessConfig
from yolactedge.ops.boxes import decode
from yolactedge.ops.masks import assemble_masks, boxes_to_pixels, mask_boxes
from yolactedge.ops.nms import fast_nms, traditional_nms


@dataclass
class Detections:
    """One image after NMS: relative x1y1x2y2 boxes, mask coefficients, 0-based classes, scores."""

    boxes: torch.Tensor
    coefs: torch.Tensor
    classes: torch.Tensor
    scores: torch.Tensor

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    def select(self, keep: torch.Tensor) -> "Detections":
        return Detections(self.boxes[keep], self.coefs[keep], self.classes[keep], self.scores[keep])

    @staticmethod
    def empty(num_coefs: int, device: torch.device | str = "cpu") -> "Detections":
        z = torch.zeros
        return Detections(z((0, 4), device=device), z((0, num_coefs), device=device),
                          z((0,), dtype=torch.long, device=device), z((0,), device=device))


def detect_one(
    loc: torch.Tensor, conf: torch.Tensor, coefs: torch.Tensor, priors: torch.Tensor, config: PostprocessConfig,
    input_size: tuple[int, int] = (550, 550),
) -> Detections:
    """One image: loc [P,4], conf (softmax) [P,C], coefs [P,k], priors [P,4]."""
    fg = conf[:, 1:].t()  # [C-1, P]
    best, _ = fg.max(dim=0)
    keep = best > config.conf_thresh
    if not bool(keep.any()):
        return Detections.empty(coefs.shape[1], loc.device)
    scores = fg[:, keep]
    boxes = decode(loc[keep], priors[keep])
    cand_coefs = coefs[keep]
    if config.nms == "fast":
        out = fast_nms(boxes, cand_coefs, scores, config.nms_thresh, config.top_k, config.max_det)
    else:
        out = traditional_nms(
            boxes, cand_coefs, scores, config.nms_thresh, config.conf_thresh, config.max_det, float(max(input_size))
        )
    return Detections(*out)


def detect(
    loc: torch.Tensor, conf: torch.Tensor, coefs: torch.Tensor, priors: torch.Tensor, config: PostprocessConfig,
    input_size: tuple[int, int] = (550, 550),
) -> list[Detections]:
    """Batched raw outputs [N,P,...] -> one ``Detections`` per image."""
    return [detect_one(loc[i], conf[i], coefs[i], priors, config, input_size) for i in range(loc.shape[0])]


def filter_detections(
    dets: Detections, min_score: float = 0.0, classes: Sequence[int] | None = None, max_det: int | None = None
) -> Detections:
    """User-level filters, applied before mask assembly so filtered detections cost nothing."""
    keep = dets.scores > min_score if min_score > 0 else torch.ones_like(dets.scores, dtype=torch.bool)
    if classes is not None:
        wanted = torch.as_tensor(list(classes), dtype=dets.classes.dtype, device=dets.classes.device)
        keep &= torch.isin(dets.classes, wanted)
    dets = dets.select(keep)
    if max_det is not None and len(dets) > max_det:
        dets = dets.select(torch.arange(max_det, device=dets.scores.device))
    return dets


@dataclass
class ImageInstances:
    """Final per-image output at the original resolution."""

    boxes: torch.Tensor  # [n,4] float pixels x1y1x2y2
    scores: torch.Tensor
    classes: torch.Tensor
    masks: torch.Tensor | None  # [n,h,w] bool


def postprocess(
    dets: Detections, proto: torch.Tensor, out_size: tuple[int, int], config: PostprocessConfig, with_masks: bool = True
) -> ImageInstances:
    """Detections + prototypes [Hp,Wp,k] of one image -> pixel boxes and full-resolution masks."""
    masks = None
    boxes = boxes_to_pixels(dets.boxes, out_size)
    if with_masks:
        masks = assemble_masks(proto, dets.coefs, dets.boxes, out_size, config.crop_masks, config.mask_thresh)
        if config.box_from_mask:
            boxes = mask_boxes(masks, boxes)
    return ImageInstances(boxes, dets.scores, dets.classes, masks)
