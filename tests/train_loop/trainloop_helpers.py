"""Helpers shared by the training-loop tests (a unique module name: test folders share sys.path)."""
from __future__ import annotations

from pathlib import Path

from yolactedge.train.config import TrainConfig, build_model_config

IMGSZ = 96


def tiny_arch(class_names, backbone: str = "mobilenetv2"):
    """A few-MB model that runs a training step in well under 0.1 s on 2 CPU cores."""
    return build_model_config(f"yolact_edge_{backbone}_config", class_names, IMGSZ, fpn_features=32,
                              proto_channels=32)


def tiny_config(out_dir: Path, **changes) -> TrainConfig:
    base = TrainConfig(out_dir=str(out_dir), max_iter=8, batch_size=2, num_workers=0, warmup_iters=2,
                       lr=1e-2, lr_scaling=False, tensorboard=False, plot=False, val_every=0, save_every=0)
    return base.replace(**changes)
