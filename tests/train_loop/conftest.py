"""Shared fixtures: one tiny synthetic COCO dataset per session and a tiny, fast architecture."""
from __future__ import annotations

from pathlib import Path

import pytest

from yolactedge.data.coco import CocoDataset
from yolactedge.data.synth import generate_image_dataset
from trainloop_helpers import IMGSZ


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


@pytest.fixture(autouse=True)
def one_torch_thread():
    """The CI box has 2 shared cores: one intra-op thread avoids OpenMP spin-waits under contention."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
