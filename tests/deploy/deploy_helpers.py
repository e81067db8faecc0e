"""Small models and data for the deployment tests (2 CPU cores: small inputs, few images)."""
from __future__ import annotations

import cv2
import torch

from yolactedge import build_model, get_config
from yolactedge.config.schema import ModelConfig


def small_config(preset: str, size: tuple[int, int], classes: tuple[str, ...] | None = None) -> ModelConfig:
    config = get_config(preset, preprocess={"input_size": size})
    return config.replace(class_names=classes) if classes else config


def tiny_config(size: tuple[int, int] = (128, 160), video: bool = False) -> ModelConfig:
    """ResNet-18 with 2 classes: random heads then give many detections (3-way softmax > 0.05)."""
    preset = "yolact_edge_vid_minimal_resnet50_config" if video else "yolact_edge_resnet18_config"
    config = small_config(preset, size, ("a", "b"))
    return config.replace(backbone={"name": "resnet18"}) if video else config


def seeded_model(config: ModelConfig, seed: int = 0, realistic_bn: bool = False) -> torch.nn.Module:
    """Random weights; ``realistic_bn`` re-estimates BatchNorm statistics (INT8 tests need realistic
    activation ranges; it also makes deep ResNets' float32 rounding noise approach 1e-4, see
    parity.float64_recheck, so FP32 tests keep the default statistics)."""
    torch.manual_seed(seed)
    model = build_model(config).eval()
    if realistic_bn:
        calibrate_batchnorm(model, config)
    return model


def calibrate_batchnorm(model: torch.nn.Module, config: ModelConfig, count: int = 4) -> None:
    """Re-estimate BatchNorm statistics on generated images, so random-weight activations have
    realistic ranges (INT8 deviations and detections then mean something)."""
    from yolactedge.data.preprocess import preprocess_image
    from yolactedge.data.synth import generate_image

    batch = torch.stack([preprocess_image(generate_image(7, i, image_size=config.input_size).image, config.preprocess)
                         for i in range(count)])
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
    model.train()
    with torch.no_grad():
        model.backbone(batch)
    model.eval()


def write_images(folder, count: int, size=(120, 160), seed: int = 1) -> list:
    from yolactedge.data.synth import generate_image

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"{i:03d}.jpg"
        cv2.imwrite(str(path), generate_image(seed, i, image_size=size).image)
        paths.append(path)
    return paths
