"""COCO-format instance segmentation reader.

Category ids may be anything (COCO's are 1..90 with gaps): they are sorted and mapped to
contiguous 0-based labels, and ``category_ids`` maps labels back for writing results.
Segmentations may be polygons, uncompressed RLE (``counts`` a list, as COCO crowds) or
compressed RLE (``counts`` a string).
"""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

import numpy as np
from pycocotools import mask as mask_utils

from yolactedge.data.errors import DatasetError
from yolactedge.data.image_io import ImageReadError, read_image
from yolactedge.data.sample import Sample

HINT = "run `yolactedge data-check ANN_FILE IMAGE_DIR` for a full report"


def load_json(path: str | os.PathLike, what: str = "annotation file") -> dict:
    """Read a JSON object, turning every failure into a DatasetError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: {what} does not exist")
    try:
        with open(path, "r", encoding="utf-8") as f:
            data = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: {what} is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise DatasetError(f"{path}: {what} must hold a JSON object, got {type(data).__name__}")
    return data


def _is_number_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)


def segmentation_to_rle(segmentation: Any, height: int, width: int, where: str) -> dict:
    """Any COCO segmentation -> one compressed RLE dict (pycocotools form, ``counts`` bytes).

    ``where`` names the file and record for error messages.
    """
    if segmentation is None or (isinstance(segmentation, list) and not segmentation):
        raise DatasetError(f"{where}: has no segmentation; {HINT}")
    if isinstance(segmentation, list):
        polygons = [p for p in segmentation if _is_number_list(p)]
        if len(polygons) != len(segmentation):
            raise DatasetError(f"{where}: polygon segmentation must be a list of [x0, y0, x1, y1, ...] number lists")
        # fewer than 3 points is no polygon (and pycocotools reads 4 numbers as a box)
        polygons = [p for p in polygons if len(p) >= 6 and len(p) % 2 == 0]
        if not polygons:
            raise DatasetError(f"{where}: every polygon has fewer than 3 points; {HINT}")
        return mask_utils.merge(mask_utils.frPyObjects(polygons, height, width))
    if isinstance(segmentation, dict) and "counts" in segmentation and "size" in segmentation:
        size = segmentation["size"]
        if not (isinstance(size, list) and len(size) == 2 and [int(size[0]), int(size[1])] == [height, width]):
            raise DatasetError(f"{where}: RLE size {size} does not match the image size [{height}, {width}] (height, width)")
        counts = segmentation["counts"]
        if isinstance(counts, list):
            if not all(isinstance(c, int) and c >= 0 for c in counts) or sum(counts) != height * width:
                raise DatasetError(f"{where}: uncompressed RLE counts must be non-negative ints summing to {height * width}")
            return mask_utils.frPyObjects(segmentation, height, width)
        if isinstance(counts, str):
            counts = counts.encode("ascii")
        if not isinstance(counts, bytes):
            raise DatasetError(f"{where}: RLE counts must be a list of ints or a string")
        return {"size": [height, width], "counts": counts}
    raise DatasetError(f"{where}: segmentation must be a polygon list or an RLE dict with 'size' and 'counts'")


def decode_rle(rle: dict) -> np.ndarray:
    """pycocotools decode without its numpy-2 ``copy=False`` DeprecationWarning (harmless, noisy)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return mask_utils.decode([rle])[:, :, 0]


def decode_segmentation(segmentation: Any, height: int, width: int, where: str) -> np.ndarray:
    """Any COCO segmentation -> HxW uint8 mask in {0, 1}."""
    rle = segmentation_to_rle(segmentation, height, width, where)
    try:
        mask = decode_rle(rle)
    except Exception as exc:  # pycocotools raises bare Exceptions on corrupt RLE
        raise DatasetError(f"{where}: cannot decode RLE ({exc})") from None
    return np.ascontiguousarray(mask.reshape(height, width), dtype=np.uint8)


def xywh_to_xyxy(bbox: Any, where: str) -> list[float]:
    if not (_is_number_list(bbox) and len(bbox) == 4):
        raise DatasetError(f"{where}: bbox must be [x, y, width, height], got {bbox!r}")
    x, y, w, h = (float(v) for v in bbox)
    return [x, y, x + w, y + h]


def mask_box(mask: np.ndarray) -> list[float]:
    """Tight x1y1x2y2 box (pixel edges) of a mask; zeros when empty."""
    ys = np.flatnonzero(mask.any(axis=1))
    xs = np.flatnonzero(mask.any(axis=0))
    if ys.size == 0:
        return [0.0, 0.0, 0.0, 0.0]
    return [float(xs[0]), float(ys[0]), float(xs[-1] + 1), float(ys[-1] + 1)]


class CategoryMap:
    """JSON category ids <-> contiguous 0-based labels (sorted by id, or in ``class_names`` order)."""

    def __init__(self, categories: Any, source: str, class_names: Optional[Sequence[str]] = None):
        if not isinstance(categories, list) or not categories:
            raise DatasetError(f"{source}: 'categories' is missing or empty; it must list {{id, name}} records")
        by_id: dict[int, str] = {}
        for record in categories:
            if not isinstance(record, dict) or not isinstance(record.get("id"), int):
                raise DatasetError(f"{source}: category record {record!r} has no integer 'id'")
            if record["id"] in by_id:
                raise DatasetError(f"{source}: category id {record['id']} appears twice")
            by_id[record["id"]] = str(record.get("name", record["id"]))
        ids = sorted(by_id)
        if class_names is not None:
            id_of = {name: cid for cid, name in by_id.items()}
            missing = [name for name in class_names if name not in id_of]
            if missing:
                raise DatasetError(f"{source}: class names {missing} are not in its categories {sorted(id_of)}")
            ids = [id_of[name] for name in class_names]
        self.category_ids: list[int] = ids
        self.class_names: tuple[str, ...] = tuple(by_id[i] for i in ids)
        self.all_ids: frozenset[int] = frozenset(by_id)
        self._label_of = {cid: label for label, cid in enumerate(ids)}

    def label(self, category_id: Any) -> Optional[int]:
        """0-based label, or None for a known category that ``class_names`` left out."""
        return self._label_of.get(category_id)


def kept_annotations(annotations: Any, source: str, categories: CategoryMap, owner_key: str,
                     owners: dict[Any, int], hint: str = "") -> Iterator[tuple[str, dict, int]]:
    """(where, annotation, owner index) of each annotation whose category is kept; ``owner_key``
    ("image_id" / "video_id") names the record it belongs to. A malformed annotation raises, naming it."""
    suffix = f"; {hint}" if hint else ""
    owner = owner_key.removesuffix("_id")
    for ann in annotations or []:
        where = f"{source}: annotation id {ann.get('id') if isinstance(ann, dict) else '?'}"
        if not isinstance(ann, dict):
            raise DatasetError(f"{where}: is not a JSON object")
        if ann.get("category_id") not in categories.all_ids:
            raise DatasetError(f"{where}: category_id {ann.get('category_id')!r} is not in 'categories'{suffix}")
        if categories.label(ann["category_id"]) is None:
            continue  # excluded by class_names
        index = owners.get(ann.get(owner_key))
        if index is None:
            raise DatasetError(f"{where}: {owner_key} {ann.get(owner_key)!r} has no {owner} record{suffix}")
        yield where, ann, index


def stack_targets(records: list[tuple[int, bool, list[float], np.ndarray]], height: int, width: int):
    """(label, crowd, x1y1x2y2 box, mask) records -> Sample target arrays (boxes, labels, masks, crowd)."""
    if not records:
        return Sample.empty_targets(height, width)
    labels = np.array([r[0] for r in records], np.int64)
    crowd = np.array([r[1] for r in records], bool)
    boxes = np.array([r[2] for r in records], np.float32).reshape(-1, 4)
    masks = np.stack([r[3] for r in records]).astype(np.uint8)
    return boxes, labels, masks, crowd


class CocoDataset:
    """COCO instance segmentation: ``dataset[i]`` is a ``Sample`` for the i-th image record.

    ``class_names``: keep and order classes by name (annotations of other categories are
    dropped), e.g. to train on a subset; default: all categories sorted by id.
    """

    def __init__(self, image_dir: str | os.PathLike, ann_file: str | os.PathLike,
                 class_names: Optional[Sequence[str]] = None):
        self.image_dir = Path(image_dir)
        self.ann_file = Path(ann_file)
        data = load_json(self.ann_file)
        images = data.get("images")
        if not isinstance(images, list) or not images:
            raise DatasetError(f"{self.ann_file}: contains no images (the 'images' list is missing or empty)")
        self.categories = CategoryMap(data.get("categories"), str(self.ann_file), class_names)
        self._images: list[dict] = []
        position: dict[Any, int] = {}
        for record in images:
            if not isinstance(record, dict) or not {"id", "file_name"} <= record.keys():
                raise DatasetError(f"{self.ann_file}: image record {str(record)[:120]} needs 'id' and 'file_name'")
            if record["id"] in position:
                raise DatasetError(f"{self.ann_file}: image id {record['id']} appears twice")
            position[record["id"]] = len(self._images)
            self._images.append(record)
        self._anns: list[list[dict]] = [[] for _ in self._images]
        for _, ann, index in kept_annotations(data.get("annotations"), str(self.ann_file), self.categories,
                                              "image_id", position, HINT):
            self._anns[index].append(ann)

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.categories.class_names

    @property
    def category_ids(self) -> list[int]:
        """JSON category id of each 0-based label."""
        return list(self.categories.category_ids)

    @property
    def image_ids(self) -> list[int]:
        return [r["id"] for r in self._images]

    def __len__(self) -> int:
        return len(self._images)

    def image_info(self, index: int) -> dict:
        """A copy of the JSON image record."""
        return dict(self._images[index])

    def annotations(self, index: int) -> list[dict]:
        """The JSON annotation records of image ``index`` (after the class filter)."""
        return list(self._anns[index])

    def image_path(self, index: int) -> Path:
        return self.image_dir / self._images[index]["file_name"]

    def load_image(self, index: int) -> np.ndarray:
        record = self._images[index]
        path = self.image_path(index)
        if not path.is_file():
            raise DatasetError(
                f"{path}: image file of image id {record['id']} in {self.ann_file} does not exist; "
                f"check the image folder ({self.image_dir})"
            )
        try:
            return read_image(path)
        except ImageReadError as exc:
            raise DatasetError(f"image id {record['id']} in {self.ann_file}: {exc}") from None

    def __getitem__(self, index: int) -> Sample:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} images")
        index %= len(self)
        record = self._images[index]
        image = self.load_image(index)
        height, width = image.shape[:2]
        records = []
        for ann in self._anns[index]:
            where = f"{self.ann_file}: annotation id {ann.get('id')} (image id {record['id']})"
            mask = decode_segmentation(ann.get("segmentation"), height, width, where)
            box = xywh_to_xyxy(ann["bbox"], where) if "bbox" in ann else mask_box(mask)
            crowd = bool(ann.get("iscrowd", 0))
            records.append((self.categories.label(ann["category_id"]), crowd, box, mask))
        boxes, labels, masks, crowd = stack_targets(records, height, width)
        return Sample(image, boxes, labels, masks, crowd, image_id=int(record["id"]), path=str(self.image_path(index)))
