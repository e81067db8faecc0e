"""Helpers of the video training tests (a module name of its own, so it never collides with
another folder's ``conftest`` when several test folders run together)."""
from __future__ import annotations

from pathlib import Path

from yolactedge.config import get_config
from yolactedge.data.synth import CLASS_NAMES
from yolactedge.train.video_trainer import VideoTrainConfig

IMGSZ = 96


def tiny_arch(video: bool = True, size: int = IMGSZ, class_names=CLASS_NAMES):
    """ResNet-18 at quarter width, 32-channel FPN: a training step takes a few ms on one core."""
    scales = tuple((round(s * size / 550, 2),) for s in (24, 48, 96, 192, 384))
    base = "yolact_edge_vid_resnet50_config" if video else "yolact_edge_youtubevis_resnet50_config"
    changes = dict(backbone={"name": "resnet18", "width_mult": 0.25}, fpn={"num_features": 32},
                   proto={"channels": 16}, preprocess={"input_size": (size, size)}, anchors={"scales": scales},
                   class_names=tuple(class_names))
    if video:
        changes["flow"] = {"reduce_channels": 16, "encode_channels": 16}
    return get_config(base, **changes)


def tiny_train_config(out_dir: Path, **changes) -> VideoTrainConfig:
    base = VideoTrainConfig(out_dir=str(out_dir), max_iter=4, batch_size=2, num_workers=0, warmup_iters=0, lr=1e-3,
                            lr_scaling=False, tensorboard=False, plot=False, save_every=0, val_every=0)
    return base.replace(**changes)
