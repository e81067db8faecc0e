"""``generate_video_dataset``: a YouTube-VIS-format video instance segmentation set on disk.

All frames are written; only every ``annotate_every``-th frame is annotated, as in YouTube-VIS.
With ``save_flow`` the exact flow from each frame t to t+1 is written too.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm import tqdm

from yolactedge import __version__
from yolactedge.data.flo import write_flo
from yolactedge.data.synth.coco_writer import categories
from yolactedge.data.synth.encode import mask_bbox, mask_to_rle
from yolactedge.data.synth.flow_field import layer_flow
from yolactedge.data.synth.photos import load_photos
from yolactedge.data.synth.scene import MIN_VISIBLE_PIXELS
from yolactedge.data.synth.seeding import SizeSpec, draw_size, normalize_size, split_key, sub_rng
from yolactedge.data.synth.shapes import SHAPE_CLASSES
from yolactedge.data.synth.video_scene import make_video_scene
from yolactedge.data.synth.writers import write_image, write_json


def video_name(index: int) -> str:
    return f"video_{index:04d}"


def _write_video(
    split_dir: Path, split: str, index: int, video_id: int, next_ann_id: int, num_frames: int,
    annotate_every: int, image_size: SizeSpec, seed: int, photos: Sequence[np.ndarray], save_flow: bool,
    motion_scale: float,
) -> tuple[dict, list[dict]]:
    """Render and write one video; returns its ``videos`` record and its annotation records."""
    rng = sub_rng(seed, split_key(split), index)
    height, width = draw_size(rng, image_size)
    scene = make_video_scene(rng, height, width, num_frames, photos, motion_scale=motion_scale)
    name = video_name(index)
    frame_dir = split_dir / "JPEGImages" / name
    frame_dir.mkdir(parents=True, exist_ok=True)
    flow_dir = split_dir / "Flow" / name
    if save_flow:
        flow_dir.mkdir(parents=True, exist_ok=True)
    tracks = {i: {"segmentations": [], "bboxes": [], "areas": []} for i in scene.object_indices}
    file_names = []
    for t in range(num_frames):
        frame, owner = scene.render(t, sub_rng(seed, split_key(split), index, t + 1))
        write_image(frame_dir / f"{t:05d}.jpg", frame)
        if save_flow and t + 1 < num_frames:
            write_flo(flow_dir / f"{t:05d}.flo", layer_flow(owner, scene.poses(t), scene.poses(t + 1)))
        if t % annotate_every:
            continue
        file_names.append(f"{name}/{t:05d}.jpg")
        for layer_index, track in tracks.items():
            mask = owner == layer_index
            area = int(np.count_nonzero(mask))
            visible = area >= MIN_VISIBLE_PIXELS
            track["segmentations"].append(mask_to_rle(mask, compressed=False) if visible else None)
            track["bboxes"].append(mask_bbox(mask) if visible else None)
            track["areas"].append(float(area) if visible else None)
    video = {"id": video_id, "width": width, "height": height, "length": num_frames, "file_names": file_names}
    annotations = []
    for layer_index, track in tracks.items():
        if all(s is None for s in track["segmentations"]):
            continue  # never visible on an annotated frame
        annotations.append({
            "id": next_ann_id + len(annotations),
            "video_id": video_id,
            "category_id": SHAPE_CLASSES[scene.layers[layer_index].label].category_id,
            "iscrowd": 0,
            "height": height,
            "width": width,
            "segmentations": track["segmentations"],
            "bboxes": track["bboxes"],
            "areas": track["areas"],
        })
    return video, annotations


def generate_video_dataset(
    out_dir: str | os.PathLike,
    num_videos: int = 8,
    num_val_videos: int = 2,
    num_frames: int = 30,
    annotate_every: int = 5,
    image_size: SizeSpec = (288, 384),
    seed: int = 0,
    texture_dir: str | os.PathLike | None = None,
    save_flow: bool = False,
    progress: bool = True,
    motion_scale: float = 1.0,
) -> dict[str, Path]:
    """Write a YouTube-VIS-style synthetic video set and return where everything went.

    Layout per split (``train`` with ``num_videos``, ``val`` with ``num_val_videos``):
    ``<split>/JPEGImages/video_NNNN/TTTTT.jpg`` (every frame), ``<split>/annotations.json``
    (``file_names`` lists the annotated frames, frames t with t % annotate_every == 0) and, with
    ``save_flow``, ``<split>/Flow/video_NNNN/TTTTT.flo``: exact flow from frame t to t+1 in
    pixels, frame_t(p) ~ frame_t+1(p + flow(p)). Returns keys ``root``, ``<split>_frames``,
    ``<split>_annotations`` and (with flow) ``<split>_flow``.

    ``motion_scale`` stretches every video's time axis (0.5: the same scenes at twice the frame
    rate, half the motion per frame), so one benchmark can be replayed at several speeds.
    """
    if num_videos < 0 or num_val_videos < 0:
        raise ValueError(f"video counts must be >= 0, got {num_videos} and {num_val_videos}")
    if not (motion_scale > 0 and np.isfinite(motion_scale)):
        raise ValueError(f"motion_scale must be a positive number, got {motion_scale}")
    if num_frames < 1 or annotate_every < 1:
        raise ValueError(f"num_frames and annotate_every must be >= 1, got {num_frames} and {annotate_every}")
    photos, photo_names = load_photos(texture_dir)
    (hmin, hmax), (wmin, wmax) = normalize_size(image_size)
    root = Path(out_dir)
    paths: dict[str, Path] = {"root": root}
    for split, count in (("train", num_videos), ("val", num_val_videos)):
        split_dir = root / split
        (split_dir / "JPEGImages").mkdir(parents=True, exist_ok=True)
        videos, annotations = [], []
        for index in tqdm(range(count), desc=f"synth videos ({split})", disable=not progress, unit="video"):
            video, anns = _write_video(split_dir, split, index, index + 1, len(annotations) + 1, num_frames,
                                       annotate_every, image_size, seed, photos, save_flow, motion_scale)
            videos.append(video)
            annotations.extend(anns)
        info = {
            "description": "yolactedge synthetic shapes video instance segmentation benchmark",
            "generator": "yolactedge.data.synth.generate_video_dataset",
            "version": __version__,
            "seed": int(seed),
            "split": split,
            "num_videos": int(count),
            "num_frames": int(num_frames),
            "annotate_every": int(annotate_every),
            "motion_scale": float(motion_scale),
            "image_size": {"height": [hmin, hmax], "width": [wmin, wmax]},
            "flow": "frame t -> t+1, pixels, Flow/<video>/<t:05d>.flo" if save_flow else None,
            "textures": photo_names,
        }
        data = {"info": info, "licenses": [], "videos": videos, "annotations": annotations,
                "categories": categories()}
        paths[f"{split}_frames"] = split_dir / "JPEGImages"
        paths[f"{split}_annotations"] = write_json(split_dir / "annotations.json", data)
        if save_flow:
            paths[f"{split}_flow"] = split_dir / "Flow"
    return paths
