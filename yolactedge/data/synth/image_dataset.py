"""``generate_image_dataset``: a COCO-format instance segmentation benchmark on disk."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm import tqdm

from yolactedge import __version__
from yolactedge.data.synth.coco_writer import CocoBuilder
from yolactedge.data.synth.photos import load_photos
from yolactedge.data.synth.scene import generate_image
from yolactedge.data.synth.seeding import SizeSpec, normalize_size
from yolactedge.data.synth.writers import check_image_format, write_image, write_json


def _write_split(
    split_dir: Path,
    split: str,
    count: int,
    image_size: SizeSpec,
    seed: int,
    photos: Sequence[np.ndarray],
    image_format: str,
    info: dict,
    progress: bool,
) -> tuple[Path, Path]:
    image_dir = split_dir / "images"
    image_dir.mkdir(parents=True, exist_ok=True)
    builder = CocoBuilder()
    for index in tqdm(range(count), desc=f"synth images ({split})", disable=not progress, unit="img"):
        synth = generate_image(seed, index, split, image_size, photos)
        file_name = f"{index:06d}.{image_format}"
        write_image(image_dir / file_name, synth.image)
        image_id = builder.add_image(file_name, *synth.image.shape[:2])
        for instance in synth.instances:
            builder.add_instance(image_id, instance.label, instance.mask, instance.crowd)
    ann_file = write_json(split_dir / "annotations.json", builder.to_dict({**info, "split": split}))
    return image_dir, ann_file


def generate_image_dataset(
    out_dir: str | os.PathLike,
    num_train: int = 400,
    num_val: int = 100,
    image_size: SizeSpec = (384, 384),
    seed: int = 0,
    texture_dir: str | os.PathLike | None = None,
    image_format: str = "jpg",
    progress: bool = True,
) -> dict[str, Path]:
    """Write a COCO-style synthetic dataset and return where everything went.

    Layout: ``out_dir/{train,val}/images/NNNNNN.jpg`` and ``out_dir/{train,val}/annotations.json``.
    ``image_size`` is ``S``, ``(H, W)`` or ``((hmin, hmax), (wmin, wmax))`` (drawn per image).
    ``texture_dir``: any folder of photos to use as textures and backgrounds (None: procedural
    only). Image ``i`` of a split depends only on (seed, split, i), so the same arguments give
    byte-identical files. Returns keys ``root``, ``train_images``, ``train_annotations``,
    ``val_images``, ``val_annotations``.
    """
    if num_train < 0 or num_val < 0:
        raise ValueError(f"num_train and num_val must be >= 0, got {num_train} and {num_val}")
    image_format = check_image_format(image_format)
    photos, photo_names = load_photos(texture_dir)
    (hmin, hmax), (wmin, wmax) = normalize_size(image_size)
    info = {
        "description": "yolactedge synthetic shapes instance segmentation benchmark",
        "generator": "yolactedge.data.synth.generate_image_dataset",
        "version": __version__,
        "seed": int(seed),
        "image_size": {"height": [hmin, hmax], "width": [wmin, wmax]},
        "image_format": image_format,
        "textures": photo_names,
    }
    root = Path(out_dir)
    paths: dict[str, Path] = {"root": root}
    for split, count in (("train", num_train), ("val", num_val)):
        image_dir, ann_file = _write_split(
            root / split, split, count, image_size, seed, photos, image_format,
            {**info, "num_images": int(count)}, progress,
        )
        paths[f"{split}_images"] = image_dir
        paths[f"{split}_annotations"] = ann_file
    return paths
