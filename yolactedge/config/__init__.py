"""Typed configuration and the original presets."""
from yolactedge.config.classes import COCO_CATEGORY_IDS, COCO_CLASSES, YTVIS_CLASSES
from yolactedge.config.presets import PRESETS, get_config, list_presets
from yolactedge.config.schema import (
    AnchorConfig,
    BackboneConfig,
    FlowConfig,
    FPNConfig,
    HeadConfig,
    ModelConfig,
    PostprocessConfig,
    PreprocessConfig,
    ProtoConfig,
)

__all__ = [
    "AnchorConfig", "BackboneConfig", "COCO_CATEGORY_IDS", "COCO_CLASSES", "FPNConfig", "FlowConfig",
    "HeadConfig", "ModelConfig", "PRESETS", "PostprocessConfig", "PreprocessConfig", "ProtoConfig",
    "YTVIS_CLASSES", "get_config", "list_presets",
]
