"""FlyingChairs optical-flow pairs (stage 2 of the original recipe: training the flow network).

Layout: ``root/FlyingChairs_train_val.txt`` (line i: 1 = train, 2 = val for pair i, ids from 1)
and ``root/data/NNNNN_img1.ppm``, ``NNNNN_img2.ppm``, ``NNNNN_flow.flo``. Flow is in pixels,
img1(p) ~ img2(p + flow(p)).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from yolactedge.data.errors import DatasetError
from yolactedge.data.flo import read_flo
from yolactedge.data.image_io import ImageReadError, read_image

SPLIT_FILE = "FlyingChairs_train_val.txt"
SPLIT_CODES = {"train": "1", "val": "2"}


class FlyingChairsDataset:
    """``dataset[i]`` -> (img1 BGR uint8, img2 BGR uint8, flow HxWx2 float32 pixels)."""

    def __init__(self, root: str | os.PathLike, split: str = "train"):
        if split not in SPLIT_CODES:
            raise ValueError(f"split must be 'train' or 'val', got {split!r}")
        self.root = Path(root)
        self.split = split
        split_file = self.root / SPLIT_FILE
        if not split_file.is_file():
            raise DatasetError(f"{split_file}: split file does not exist; expected the FlyingChairs layout "
                               f"root/{SPLIT_FILE} and root/data/NNNNN_img1.ppm")
        self.data_dir = self.root / "data"
        if not self.data_dir.is_dir():
            raise DatasetError(f"{self.data_dir}: data folder does not exist (FlyingChairs keeps its pairs in root/data/)")
        codes = split_file.read_text(encoding="ascii", errors="replace").split()
        bad = sorted({c for c in codes if c not in SPLIT_CODES.values()})
        if bad:
            raise DatasetError(f"{split_file}: unexpected split codes {bad[:5]}; each line must be 1 (train) or 2 (val)")
        self.pair_ids = [i + 1 for i, c in enumerate(codes) if c == SPLIT_CODES[split]]
        if not self.pair_ids:
            raise DatasetError(f"{split_file}: lists no {split} pairs (code {SPLIT_CODES[split]})")

    def __len__(self) -> int:
        return len(self.pair_ids)

    def paths(self, index: int) -> tuple[Path, Path, Path]:
        stem = f"{self.pair_ids[index]:05d}"
        return (self.data_dir / f"{stem}_img1.ppm", self.data_dir / f"{stem}_img2.ppm",
                self.data_dir / f"{stem}_flow.flo")

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        path1, path2, flow_path = self.paths(index)
        for path in (path1, path2, flow_path):
            if not path.is_file():
                raise DatasetError(f"{path}: file of pair {self.pair_ids[index]} is missing "
                                   f"(listed in {self.root / SPLIT_FILE})")
        try:
            img1, img2 = read_image(path1), read_image(path2)
        except ImageReadError as exc:
            raise DatasetError(f"pair {self.pair_ids[index]}: {exc}") from None
        flow = read_flo(flow_path)
        if img1.shape != img2.shape or flow.shape[:2] != img1.shape[:2]:
            raise DatasetError(f"pair {self.pair_ids[index]}: sizes disagree (img1 {img1.shape[:2]}, "
                               f"img2 {img2.shape[:2]}, flow {flow.shape[:2]})")
        return img1, img2, flow
