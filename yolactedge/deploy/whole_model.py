"""The single-file export (``model.onnx``) for users integrating elsewhere: image batch in, raw
head outputs + prototypes + priors out; decoding, NMS and masks are left to the caller
(``numpy_postprocess.py`` is a dependency-free reference). Layout documented in README.md.

Video presets export their keyframe path here (every frame a keyframe); the temporal speed-up
needs the per-component export and its keyframe state.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from yolactedge.config.schema import ModelConfig
from yolactedge.deploy.onnx_export import DEFAULT_OPSET, export_module
from yolactedge.model.priors import PriorCache

WHOLE_INPUTS = ("image",)
WHOLE_OUTPUTS = ("loc", "conf", "coef", "proto", "priors")


def compute_priors(model: nn.Module, config: ModelConfig) -> torch.Tensor:
    """[P,4] (cx, cy, w, h) priors for the configured input size (what the head's rows refer to)."""
    h, w = config.input_size
    with torch.inference_mode():
        feats, _ = model.keyframe_features(torch.zeros(1, 3, h, w))
        levels = model.fpn_phase_2(*feats)
    anchors = config.anchors
    cache = PriorCache(anchors.scales, anchors.aspect_ratios, config.input_size, anchors.square_anchors)
    return cache([tuple(level.shape[-2:]) for level in levels], torch.device("cpu")).clone()


class WholeModel(nn.Module):
    """Keyframe path in one graph; priors are a constant output (also written as ``priors.npy``)."""

    def __init__(self, model: nn.Module, priors: torch.Tensor):
        super().__init__()
        self.model = model.eval()
        self.register_buffer("priors", priors.clone())

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        feats, _ = self.model.keyframe_features(image)
        levels = self.model.fpn_phase_2(*feats)
        proto = self.model.proto_net(levels[0]).permute(0, 2, 3, 1).contiguous()
        loc, conf, coef = self.model.heads(list(levels))
        return loc, F.softmax(conf, -1), coef, proto, self.priors.clone()


def export_whole_model(model: nn.Module, config: ModelConfig, folder: str | os.PathLike, *, batch: int = 1,
                       metadata: Mapping[str, str] | None = None, exporter: str = "dynamo",
                       opset: int = DEFAULT_OPSET) -> tuple[Path, Path]:
    """Write ``model.onnx`` and ``priors.npy`` into ``folder``; returns both paths."""
    folder = Path(folder)
    priors = compute_priors(model, config)
    h, w = config.input_size
    onnx_path = export_module(WholeModel(model, priors), (torch.zeros(batch, 3, h, w),), folder / "model.onnx",
                              WHOLE_INPUTS, WHOLE_OUTPUTS, metadata=metadata, exporter=exporter, opset=opset)
    priors_path = folder / "priors.npy"
    np.save(priors_path, priors.numpy())
    return onnx_path, priors_path
