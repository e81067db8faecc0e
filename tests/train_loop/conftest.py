"""Shared fixtures: one tiny synthetic COCO dataset per session and a tiny, fast architecture."""
from __future__ import annotations

from pathlib import Path

import pytest

from yolactedge.data.coco import CocoDataset
from yolactedge.data.synth import generate_image_dataset
from yolactedge.train.config import TrainConfig, build_model_config

IMGSZ = 96


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synth")
    generate_image_dataset(root, num_train=12, num_val=3, image_size=IMGSZ, seed=3, progress=False)
    return root


@pytest.fixture(scope="session")
def datasets(synth_root: Path) -> tuple[CocoDataset, CocoDataset]:
    train = CocoDataset(synth_root / "train" / "images", synth_root / "train" / "annotations.json")
    val = CocoDataset(synth_root / "val" / "images", synth_root / "val" / "annotations.json")
    return train, val


def tiny_arch(class_names, backbone: str = "mobilenetv2"):
    """A few-MB model that runs a training step in well under 0.1 s on 2 CPU cores."""
    return build_model_config(f"yolact_edge_{backbone}_config", class_names, IMGSZ, fpn_features=32,
                              proto_channels=32)


def tiny_config(out_dir: Path, **changes) -> TrainConfig:
    base = TrainConfig(out_dir=str(out_dir), max_iter=8, batch_size=2, num_workers=0, warmup_iters=2,
                       lr=1e-2, lr_scaling=False, tensorboard=False, plot=False, val_every=0, save_every=0)
    return base.replace(**changes)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """The CI box has 2 shared cores: one intra-op thread avoids OpenMP spin-waits under contention."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
