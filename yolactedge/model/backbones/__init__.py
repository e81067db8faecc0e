"""Backbone registry: one builder from a ``BackboneConfig``."""
from __future__ import annotations

from torch import nn

from yolactedge.config.schema import BackboneConfig
from yolactedge.model.backbones.mobilenetv2 import MobileNetV2Backbone
from yolactedge.model.backbones.resnet import RESNET_LAYOUTS, ResNetBackbone


def build_backbone(config: BackboneConfig) -> nn.Module:
    if config.name in RESNET_LAYOUTS:
        return ResNetBackbone(config.name, config.selected_layers, config.width_mult)
    if config.name == "mobilenetv2":
        return MobileNetV2Backbone(config.selected_layers, config.width_mult)
    raise ValueError(f"unknown backbone {config.name!r}")


__all__ = ["MobileNetV2Backbone", "ResNetBackbone", "build_backbone"]
