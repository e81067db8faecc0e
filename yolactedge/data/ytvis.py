"""YouTube-VIS-format video instance segmentation reader.

Frames live in ``frames_root/<video>/<NNNNN>.jpg`` with *all* raw frames on disk, while the JSON
lists (and annotates) only every k-th frame. Frame numbers come from the file names, so
reference frames between annotated ones can be loaded for flow/warping training (stage 3 of the
original recipe).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Optional, Sequence

import numpy as np
from pycocotools import mask as mask_utils

from yolactedge.data.coco import (
    CategoryMap,
    decode_segmentation,
    kept_annotations,
    load_json,
    mask_box,
    segmentation_to_rle,
    stack_targets,
    xywh_to_xyxy,
)
from yolactedge.data.errors import DatasetError
from yolactedge.data.image_io import ImageReadError, read_image
from yolactedge.data.sample import Sample

_FRAME_NUMBER = re.compile(r"^(.*?)(\d+)$")


def parse_frame_name(file_name: str, where: str) -> tuple[str, str, int, int, str]:
    """'vid/00005.jpg' -> (video folder, stem prefix, frame number, digit count, extension)."""
    path = PurePosixPath(str(file_name).replace("\\", "/"))
    match = _FRAME_NUMBER.match(path.stem)
    if not match:
        raise DatasetError(f"{where}: cannot read a frame number from file name {file_name!r} "
                           "(expected names like 'video/00005.jpg')")
    prefix, digits = match.groups()
    return str(path.parent), prefix, int(digits), len(digits), path.suffix


@dataclass
class _Video:
    record: dict
    folder: str
    prefix: str
    digits: int
    ext: str
    frames: list[int]  # annotated frame numbers, in file_names order
    position: dict[int, int]  # frame number -> index into file_names / segmentations
    annotations: list[dict]


class YTVISDataset:
    """YouTube-VIS videos; ``dataset[i]`` is the Sample of the i-th annotated frame."""

    def __init__(self, frames_root: str | os.PathLike, ann_file: str | os.PathLike,
                 class_names: Optional[Sequence[str]] = None):
        self.frames_root = Path(frames_root)
        self.ann_file = Path(ann_file)
        data = load_json(self.ann_file)
        videos = data.get("videos")
        if not isinstance(videos, list) or not videos:
            raise DatasetError(f"{self.ann_file}: contains no videos (the 'videos' list is missing or empty)")
        self.categories = CategoryMap(data.get("categories"), str(self.ann_file), class_names)
        self._videos: list[_Video] = []
        by_id: dict[Any, int] = {}
        for record in videos:
            where = f"{self.ann_file}: video id {record.get('id') if isinstance(record, dict) else '?'}"
            if not isinstance(record, dict) or not isinstance(record.get("file_names"), list) or not record["file_names"]:
                raise DatasetError(f"{where}: needs 'id' and a non-empty 'file_names' list")
            if record.get("id") in by_id:
                raise DatasetError(f"{where}: video id appears twice")
            parsed = [parse_frame_name(name, where) for name in record["file_names"]]
            frames = [p[2] for p in parsed]
            if len(set(frames)) != len(frames):
                raise DatasetError(f"{where}: file_names repeat a frame number")
            folder, prefix, _, digits, ext = parsed[0]
            by_id[record["id"]] = len(self._videos)
            self._videos.append(_Video(record, folder, prefix, digits, ext, frames,
                                       {f: i for i, f in enumerate(frames)}, []))
        for where, ann, index in kept_annotations(data.get("annotations"), str(self.ann_file), self.categories,
                                                  "video_id", by_id):
            video = self._videos[index]
            segs = ann.get("segmentations")
            if not isinstance(segs, list) or len(segs) != len(video.frames):
                raise DatasetError(f"{where}: 'segmentations' must have one entry (or null) per file name "
                                   f"of video id {video.record['id']} ({len(video.frames)})")
            video.annotations.append(ann)
        self._frames = [(vi, f) for vi, v in enumerate(self._videos) for f in v.frames]
        self._image_ids = {key: i + 1 for i, key in enumerate(self._frames)}

    # -- names and ids -------------------------------------------------------------------------
    @property
    def class_names(self) -> tuple[str, ...]:
        return self.categories.class_names

    @property
    def category_ids(self) -> list[int]:
        return list(self.categories.category_ids)

    @property
    def num_videos(self) -> int:
        return len(self._videos)

    def video_info(self, video_index: int) -> dict:
        return dict(self._videos[video_index].record)

    def annotated_frames(self) -> list[tuple[int, int]]:
        """(video index, frame number) of every annotated frame, video by video."""
        return list(self._frames)

    def __len__(self) -> int:
        return len(self._frames)

    def __getitem__(self, index: int) -> Sample:
        return self.sample(*self._frames[index])

    # -- frames --------------------------------------------------------------------------------
    def frame_path(self, video_index: int, frame_number: int) -> Path:
        v = self._videos[video_index]
        name = f"{v.prefix}{frame_number:0{v.digits}d}{v.ext}"
        return self.frames_root / v.folder / name

    def load_frame(self, video_index: int, frame_number: int) -> np.ndarray:
        """Any raw frame (annotated or not) as HxWx3 uint8 BGR."""
        path = self.frame_path(video_index, frame_number)
        video_id = self._videos[video_index].record["id"]
        if not path.is_file():
            raise DatasetError(
                f"{path}: frame {frame_number} of video id {video_id} does not exist; frames_root "
                f"({self.frames_root}) must hold every raw frame, not only the annotated ones"
            )
        try:
            return read_image(path)
        except ImageReadError as exc:
            raise DatasetError(f"video id {video_id}, frame {frame_number}: {exc}") from None

    def _position(self, video_index: int, frame_number: int) -> int:
        v = self._videos[video_index]
        if frame_number not in v.position:
            raise DatasetError(f"{self.ann_file}: frame {frame_number} of video id {v.record['id']} is not "
                               f"annotated (annotated frames: {v.frames[:10]}{'...' if len(v.frames) > 10 else ''})")
        return v.position[frame_number]

    def _has_objects(self, video_index: int, frame_number: int) -> bool:
        pos = self._position(video_index, frame_number)
        return any(a["segmentations"][pos] is not None for a in self._videos[video_index].annotations)

    def sample(self, video_index: int, frame_number: int) -> Sample:
        """The annotated frame with targets of the objects present in it."""
        v = self._videos[video_index]
        pos = self._position(video_index, frame_number)
        image = self.load_frame(video_index, frame_number)
        height, width = image.shape[:2]
        records = []
        for ann in v.annotations:
            segmentation = ann["segmentations"][pos]
            if segmentation is None:
                continue
            where = f"{self.ann_file}: annotation id {ann.get('id')} (video id {v.record['id']}, frame {frame_number})"
            mask = decode_segmentation(segmentation, height, width, where)
            bboxes = ann.get("bboxes")
            bbox = bboxes[pos] if isinstance(bboxes, list) and len(bboxes) > pos else None
            box = xywh_to_xyxy(bbox, where) if bbox is not None else mask_box(mask)
            records.append((self.categories.label(ann["category_id"]), bool(ann.get("iscrowd", 0)), box, mask))
        boxes, labels, masks, crowd = stack_targets(records, height, width)
        return Sample(image, boxes, labels, masks, crowd, image_id=self._image_ids[(video_index, frame_number)],
                      path=str(self.frame_path(video_index, frame_number)),
                      extra={"video_id": v.record["id"], "video_index": video_index, "frame": frame_number})

    def sample_pair(
        self, index: int, rng: np.random.Generator, offset_range: tuple[int, int] = (2, 5)
    ) -> tuple[Sample, np.ndarray, int]:
        """Stage-3 sampling for video ``index``: (annotated Sample, reference frame, offset).

        The annotated frame is drawn among the annotated frames after the first one (preferring
        frames with at least one object); the reference frame is k raw frames earlier, k uniform
        in ``offset_range`` (inclusive), clamped to frame 0. The returned offset is the actual
        distance in raw frames (smaller than k after clamping).
        """
        lo, hi = int(offset_range[0]), int(offset_range[1])
        if lo < 0 or hi < lo:
            raise ValueError(f"offset_range must be (lo, hi) with 0 <= lo <= hi, got {offset_range}")
        frames = self._videos[index].frames
        candidates = sorted(frames)[1:] or list(frames)
        with_objects = [f for f in candidates if self._has_objects(index, f)]
        frame = int(rng.choice(with_objects or candidates))
        reference = max(frame - int(rng.integers(lo, hi + 1)), 0)
        return self.sample(index, frame), self.load_frame(index, reference), frame - reference

    # -- evaluation ----------------------------------------------------------------------------
    def to_coco_frames(self) -> dict:
        """COCO ground truth where each annotated frame is an image (ids = position in
        ``annotated_frames()`` + 1), for frame-level mAP as the original evaluates YouTube-VIS."""
        images, annotations = [], []
        for image_id, (vi, frame) in enumerate(self._frames, start=1):
            v = self._videos[vi]
            height, width = int(v.record.get("height", 0)), int(v.record.get("width", 0))
            pos = v.position[frame]
            images.append({"id": image_id, "file_name": v.record["file_names"][pos], "width": width,
                           "height": height, "video_id": v.record["id"], "frame": frame})
            for ann in v.annotations:
                segmentation = ann["segmentations"][pos]
                if segmentation is None:
                    continue
                where = f"{self.ann_file}: annotation id {ann.get('id')} (video id {v.record['id']}, frame {frame})"
                rle = segmentation_to_rle(segmentation, height, width, where)
                annotations.append({
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": ann["category_id"],
                    "segmentation": {"size": [height, width], "counts": rle["counts"].decode("ascii")},
                    "area": float(mask_utils.area(rle)),
                    "bbox": [float(x) for x in mask_utils.toBbox(rle)],
                    "iscrowd": int(ann.get("iscrowd", 0)),
                })
        categories = [{"id": cid, "name": name} for cid, name in zip(self.category_ids, self.class_names)]
        return {"info": {"source": str(self.ann_file)}, "images": images, "annotations": annotations,
                "categories": categories}
