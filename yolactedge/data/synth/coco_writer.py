"""Accumulates COCO ``images`` / ``annotations`` records in a fixed key order."""
from __future__ import annotations

import numpy as np

from yolactedge.data.synth.encode import mask_bbox, mask_to_rle, mask_to_segmentation
from yolactedge.data.synth.shapes import SHAPE_CLASSES


def categories() -> list[dict]:
    """COCO categories of the synthetic classes (ids 1, 3, 5, ...: non-contiguous on purpose)."""
    return [{"id": c.category_id, "name": c.name, "supercategory": "shape"} for c in SHAPE_CLASSES]


class CocoBuilder:
    """Image and annotation records with ids from 1, in insertion order."""

    def __init__(self) -> None:
        self.images: list[dict] = []
        self.annotations: list[dict] = []

    def add_image(self, file_name: str, height: int, width: int) -> int:
        image_id = len(self.images) + 1
        self.images.append({"id": image_id, "file_name": file_name, "width": int(width), "height": int(height)})
        return image_id

    def add_instance(self, image_id: int, label: int, mask: np.ndarray, crowd: bool) -> None:
        """Crowd regions as uncompressed RLE (as in COCO), objects as polygons or compressed RLE."""
        segmentation = mask_to_rle(mask, compressed=False) if crowd else mask_to_segmentation(mask)
        self.annotations.append({
            "id": len(self.annotations) + 1,
            "image_id": int(image_id),
            "category_id": SHAPE_CLASSES[label].category_id,
            "segmentation": segmentation,
            "area": float(np.count_nonzero(mask)),
            "bbox": mask_bbox(mask),
            "iscrowd": int(bool(crowd)),
        })

    def to_dict(self, info: dict) -> dict:
        return {
            "info": info,
            "licenses": [],
            "images": self.images,
            "annotations": self.annotations,
            "categories": categories(),
        }
