"""Shared fixtures of the video training tests: tiny generated FlyingChairs / YouTube-VIS sets,
a tiny video architecture and a stage-1 checkpoint of it."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from vt_helpers import tiny_arch
from yolactedge.checkpoints import save_checkpoint
from yolactedge.data.synth import generate_flow_pairs, generate_video_dataset
from yolactedge.model import build_model


@pytest.fixture(scope="session")
def flow_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("chairs")
    # 6 pairs, every third one in val: 4 training pairs (2 iterations per epoch at batch 2), 2 val
    generate_flow_pairs(root, num_pairs=6, image_size=(64, 80), seed=1, val_fraction=1 / 3, progress=False)
    return root


@pytest.fixture(scope="session")
def video_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ytvis")
    generate_video_dataset(root, num_videos=3, num_val_videos=2, num_frames=11, annotate_every=5,
                           image_size=(64, 64), seed=2, progress=False)
    return root


@pytest.fixture(scope="session")
def stage1_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A (random-weight) stage-1 image checkpoint of the tiny architecture."""
    config = tiny_arch(video=False)
    torch.manual_seed(0)
    model = build_model(config)
    path = tmp_path_factory.mktemp("stage1") / "stage1.pt"
    save_checkpoint(path, model, config)
    return path


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Two shared cores: one intra-op thread avoids OpenMP spin-waits under contention."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def coco_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny COCO-format image set with the same shape classes (the joint data of stage 3)."""
    from yolactedge.data.synth import generate_image_dataset

    root = tmp_path_factory.mktemp("coco")
    generate_image_dataset(root, num_train=4, num_val=1, image_size=64, seed=3, progress=False)
    return root


@pytest.fixture(scope="session")
def stage2_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A (random-weight) stage-2 video checkpoint of the tiny architecture (with SPA)."""
    config = tiny_arch(video=True)
    torch.manual_seed(1)
    model = build_model(config)
    path = tmp_path_factory.mktemp("stage2") / "stage2.pt"
    save_checkpoint(path, model, config)
    return path


@pytest.fixture(scope="session")
def videos(video_root: Path):
    from yolactedge.data.ytvis import YTVISDataset

    return tuple(YTVISDataset(video_root / split / "JPEGImages", video_root / split / "annotations.json")
                 for split in ("train", "val"))
