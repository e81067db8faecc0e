"""Named presets keeping the original config names (``yolact_edge_config`` ...).

Presets are data: each name maps to a function returning a fresh ``ModelConfig``.
"""
from __future__ import annotations

from typing import Any, Callable

from yolactedge.config.classes import COCO_CLASSES, YTVIS_CLASSES
from yolactedge.config.schema import (
    AnchorConfig, BackboneConfig, FlowConfig, FPNConfig, ModelConfig, PreprocessConfig, ProtoConfig,
)

_RESNET = {"resnet18", "resnet34", "resnet50", "resnet101"}


def _image(name: str, backbone: str, classes: tuple[str, ...] = COCO_CLASSES) -> ModelConfig:
    selected = (3, 4, 6) if backbone == "mobilenetv2" else (1, 2, 3)
    return ModelConfig(name=name, class_names=classes, backbone=BackboneConfig(backbone, selected))


def _scaled_anchors(size: int) -> tuple[tuple[float, ...], ...]:
    """The original pixel scales (24..384 at 550) scaled to another input size, as YOLACT-700 did."""
    return tuple((round(s * size / 550, 2),) for s in (24, 48, 96, 192, 384))


SYNTH_CLASSES = ("circle", "rectangle", "triangle", "star", "capsule", "hexagon", "ring", "cross")


def _demo() -> ModelConfig:
    """The bundled demo model: ResNet-18 at half width, 64-channel FPN/ProtoNet, 320x320 input.
    Small enough to train on a 2-core CPU within an hour and to ship (< 15 MB)."""
    return ModelConfig(
        name="yolact_edge_demo_config",
        class_names=SYNTH_CLASSES,
        backbone=BackboneConfig("resnet18", (1, 2, 3), width_mult=0.5),
        fpn=FPNConfig(num_features=64),
        proto=ProtoConfig(channels=64),
        anchors=AnchorConfig(scales=_scaled_anchors(320)),
        preprocess=PreprocessConfig(input_size=(320, 320)),
    )


def _video(name: str, backbone: str, use_spa: bool = True) -> ModelConfig:
    return _image(name, backbone, YTVIS_CLASSES).replace(flow=FlowConfig(use_spa=use_spa))


PRESETS: dict[str, Callable[[], ModelConfig]] = {
    # YOLACT v1 (their checkpoints load through the FPN key conversion)
    "yolact_base_config": lambda: _image("yolact_base_config", "resnet101"),
    "yolact_resnet50_config": lambda: _image("yolact_resnet50_config", "resnet50"),
    # YolactEdge image models (COCO, 81 classes)
    "yolact_edge_config": lambda: _image("yolact_edge_config", "resnet101"),
    "yolact_edge_resnet50_config": lambda: _image("yolact_edge_resnet50_config", "resnet50"),
    "yolact_edge_mobilenetv2_config": lambda: _image("yolact_edge_mobilenetv2_config", "mobilenetv2"),
    # Backbones users asked for (not in the original release; ImageNet init from torchvision files)
    "yolact_edge_resnet18_config": lambda: _image("yolact_edge_resnet18_config", "resnet18"),
    "yolact_edge_resnet34_config": lambda: _image("yolact_edge_resnet34_config", "resnet34"),
    # The bundled demo model's architecture (trained on the synthetic shapes benchmark)
    "yolact_edge_demo_config": _demo,
    # YouTube-VIS (41 classes): stage-1 image model, stage-2 flow training, stage-3 video model
    "yolact_edge_youtubevis_config": lambda: _image("yolact_edge_youtubevis_config", "resnet101", YTVIS_CLASSES),
    "yolact_edge_youtubevis_resnet50_config": lambda: _image(
        "yolact_edge_youtubevis_resnet50_config", "resnet50", YTVIS_CLASSES
    ),
    "yolact_edge_vid_trainflow_config": lambda: _video("yolact_edge_vid_trainflow_config", "resnet101"),
    "yolact_edge_vid_trainflow_resnet50_config": lambda: _video(
        "yolact_edge_vid_trainflow_resnet50_config", "resnet50"
    ),
    "yolact_edge_vid_config": lambda: _video("yolact_edge_vid_config", "resnet101"),
    "yolact_edge_vid_resnet50_config": lambda: _video("yolact_edge_vid_resnet50_config", "resnet50"),
    "yolact_edge_vid_minimal_config": lambda: _video("yolact_edge_vid_minimal_config", "resnet101", use_spa=False),
    "yolact_edge_vid_minimal_resnet50_config": lambda: _video(
        "yolact_edge_vid_minimal_resnet50_config", "resnet50", use_spa=False
    ),
}


def list_presets() -> list[str]:
    return sorted(PRESETS)


def get_config(name: str, **overrides: Any) -> ModelConfig:
    """A preset by its original name (the ``_config`` suffix may be omitted), with overrides."""
    key = name if name in PRESETS else f"{name}_config"
    if key not in PRESETS:
        close = [p for p in PRESETS if name.replace("_config", "") in p]
        hint = f" Did you mean {', '.join(close[:3])}?" if close else ""
        raise KeyError(f"unknown config {name!r}.{hint} Available: {', '.join(list_presets())}")
    config = PRESETS[key]()
    return config.replace(**overrides) if overrides else config
