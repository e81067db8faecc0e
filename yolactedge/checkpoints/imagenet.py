"""ImageNet backbone initialisation from torchvision-format files (no download: pass the file)."""
from __future__ import annotations

import logging
import os

import torch
from torch import nn

from yolactedge.checkpoints.io import CheckpointError, load_weights_file

log = logging.getLogger(__name__)


def _resnet_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {}
    for key, value in state.items():
        if key.startswith("fc."):
            continue
        if key.startswith("layer"):
            stage, rest = key[len("layer"):].split(".", 1)
            key = f"layers.{int(stage) - 1}.{rest}"
        out[key] = value
    return out


def _mobilenet_keys(state: dict[str, torch.Tensor], backbone: nn.Module) -> dict[str, torch.Tensor]:
    tensors = [(k, v) for k, v in state.items() if not k.startswith("classifier.")]
    if all(k.startswith("features.") for k, _ in tensors):
        return {"layers." + k[len("features."):]: v for k, v in tensors}
    # The original maps by position; do the same for files with other names, checking counts.
    target = list(backbone.state_dict())
    if len(target) != len(tensors):
        raise CheckpointError(f"MobileNetV2 file has {len(tensors)} tensors, backbone expects {len(target)}")
    return {name: value for name, (_, value) in zip(target, tensors)}


def load_imagenet_backbone(backbone: nn.Module, path: str | os.PathLike, backbone_name: str) -> None:
    """Initialise ``backbone`` from e.g. ``resnet50-19c8e357.pth``, ``resnet101_reducedfc.pth`` or
    ``mobilenet_v2-b0353104.pth`` (torchvision key layout)."""
    state = load_weights_file(path)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: expected a state dict, got {type(state).__name__}")
    state = {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}
    mapped = _mobilenet_keys(state, backbone) if backbone_name == "mobilenetv2" else _resnet_keys(state)
    target = backbone.state_dict()
    if backbone_name in ("resnet18", "resnet34") and any(k.endswith("conv3.weight") for k in mapped):
        raise CheckpointError(f"backbone {backbone_name!r} expects BasicBlock weights; {path} contains Bottleneck "
                              "weights (resnet50/101): use a resnet50/101 config or a resnet18/34 file")
    if backbone_name in ("resnet50", "resnet101") and mapped and not any(k.endswith("conv3.weight") for k in mapped):
        raise CheckpointError(f"backbone {backbone_name!r} expects Bottleneck weights; {path} contains BasicBlock "
                              "weights (resnet18/34): use a resnet18/34 config or a resnet50/101 file")
    unknown = [k for k in mapped if k not in target]
    if unknown:
        raise CheckpointError(f"{path}: {len(unknown)} keys do not fit backbone {backbone_name!r}, e.g. {unknown[:3]} "
                              "(wrong depth? e.g. a resnet50 file for a resnet101 config)")
    bad = [f"{k}: file {tuple(v.shape)} vs backbone {tuple(target[k].shape)}" for k, v in mapped.items() if v.shape != target[k].shape]
    if bad:
        raise CheckpointError(f"{path}: shape mismatch for backbone {backbone_name!r}: " + "; ".join(bad[:3]))
    missing = [k for k in target if k not in mapped and not k.endswith("num_batches_tracked")]
    if missing:
        raise CheckpointError(f"{path}: {len(missing)} backbone tensors missing, e.g. {missing[:3]}")
    backbone.load_state_dict(mapped, strict=False)
    log.info("Initialised %s backbone from %s", backbone_name, path)
