"""Dataset lint: find the annotation problems that otherwise surface as crashes or silent zero mAP.

``validate_coco`` / ``validate_ytvis`` never raise on bad data; they return a report listing
every problem with the file and record it concerns. Errors make the reader fail or training
wrong; warnings are suspicious but usable.
"""
from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
from pycocotools import mask as mask_utils

from yolactedge.data.coco import load_json, segmentation_to_rle
from yolactedge.data.errors import DatasetError
from yolactedge.data.image_io import ImageReadError, read_image
from yolactedge.data.ytvis import parse_frame_name


@dataclass(frozen=True)
class Problem:
    severity: str  # "error" or "warning"
    code: str  # stable identifier, e.g. "missing_image"
    message: str
    file: str = ""
    record: str = ""  # e.g. "image id 3", "annotation id 17"

    def __str__(self) -> str:
        where = ": ".join(p for p in (self.file, self.record) if p)
        return f"{self.severity.upper()} [{self.code}] {where}: {self.message}" if where else \
            f"{self.severity.upper()} [{self.code}] {self.message}"


@dataclass
class ValidationReport:
    source: str
    problems: list[Problem] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)

    def error(self, code: str, message: str, file: str = "", record: str = "") -> None:
        self.problems.append(Problem("error", code, message, file, record))

    def warning(self, code: str, message: str, file: str = "", record: str = "") -> None:
        self.problems.append(Problem("warning", code, message, file, record))

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def codes(self, severity: Optional[str] = None) -> set[str]:
        return {p.code for p in self.problems if severity is None or p.severity == severity}

    def format(self, max_per_code: int = 5) -> str:
        """Human summary: counts, then up to ``max_per_code`` examples of each kind of problem."""
        stats = ", ".join(f"{v} {k}" for k, v in self.stats.items())
        verdict = "OK" if self.ok else "FAILED"
        lines = [f"{self.source}: {verdict} - {len(self.errors)} errors, {len(self.warnings)} warnings"
                 + (f" ({stats})" if stats else "")]
        shown: Counter = Counter()
        totals = Counter((p.severity, p.code) for p in self.problems)
        for problem in sorted(self.problems, key=lambda p: (p.severity != "error", p.code)):
            key = (problem.severity, problem.code)
            shown[key] += 1
            if shown[key] <= max_per_code:
                lines.append(f"  {problem}")
            if shown[key] == max_per_code and totals[key] > max_per_code:
                lines.append(f"  ... and {totals[key] - max_per_code} more [{problem.code}]")
        return "\n".join(lines)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value)


def _polygon_area(coords: list) -> float:
    pts = np.asarray(coords, np.float64).reshape(-1, 2)
    x, y = pts[:, 0], pts[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0)


def _check_categories(report: ValidationReport, data: dict, file: str) -> set:
    categories = data.get("categories")
    if not isinstance(categories, list) or not categories:
        report.error("no_categories", "'categories' is missing or empty; list every class as {id, name}", file)
        return set()
    ids = Counter(c.get("id") for c in categories if isinstance(c, dict))
    for cid, n in ids.items():
        if not isinstance(cid, int):
            report.error("bad_category", f"category id {cid!r} is not an integer", file)
        elif n > 1:
            report.error("duplicate_id", f"category id {cid} appears {n} times", file)
    report.stats["categories"] = len(ids)
    return set(ids)


def _check_bbox(report: ValidationReport, bbox: Any, height: int, width: int, file: str, record: str) -> None:
    if bbox is None:
        report.warning("missing_bbox", "no bbox; readers derive it from the mask", file, record)
        return
    if not (isinstance(bbox, list) and len(bbox) == 4 and all(_number(v) for v in bbox)):
        report.error("bad_bbox", f"bbox must be [x, y, width, height], got {bbox!r}", file, record)
        return
    x, y, w, h = bbox
    if w <= 0 or h <= 0:
        report.error("empty_box", f"bbox {bbox} has zero or negative width/height", file, record)
        return
    if height <= 0 or width <= 0:
        return
    if x >= width or y >= height or x + w <= 0 or y + h <= 0:
        report.error("box_out_of_image", f"bbox {bbox} lies entirely outside the {width}x{height} image", file, record)
    elif x < -1 or y < -1 or x + w > width + 1 or y + h > height + 1:
        report.warning("box_out_of_image", f"bbox {bbox} extends past the {width}x{height} image", file, record)


def _check_segmentation(report: ValidationReport, seg: Any, bbox: Any, height: int, width: int,
                        file: str, record: str) -> None:
    if seg is None or seg == [] or seg == {}:
        report.error("missing_segmentation", "annotation has no segmentation (masks are required)", file, record)
        return
    if isinstance(seg, list):
        if not all(isinstance(p, list) and all(_number(v) for v in p) for p in seg):
            report.error("bad_segmentation", "polygons must be lists of numbers [x0, y0, x1, y1, ...]", file, record)
            return
        bad = [i for i, p in enumerate(seg) if len(p) < 6 or len(p) % 2 or _polygon_area(p) <= 0.0]
        if bad:
            usable = len(seg) - len(bad)
            message = (f"polygon(s) {bad} have fewer than 3 points or zero area"
                       + ("" if usable else "; no usable polygon is left"))
            (report.warning if usable else report.error)("degenerate_polygon", message, file, record)
            if not usable:
                return
    if height <= 0 or width <= 0:
        return
    try:
        rle = segmentation_to_rle(seg, height, width, record)
        area = float(mask_utils.area(rle))
    except DatasetError as exc:
        report.error("bad_segmentation", str(exc).split(": ", 1)[-1], file, record)
        return
    except Exception as exc:  # pycocotools raises bare Exceptions on corrupt RLE strings
        report.error("bad_segmentation", f"cannot decode segmentation ({exc})", file, record)
        return
    if area <= 0:
        report.warning("empty_mask", "segmentation covers no pixel inside the image", file, record)
        return
    if isinstance(bbox, list) and len(bbox) == 4 and all(_number(v) for v in bbox) and bbox[2] > 0 and bbox[3] > 0:
        mx, my, mw, mh = (float(v) for v in mask_utils.toBbox(rle))
        ix = max(0.0, min(bbox[0] + bbox[2], mx + mw) - max(bbox[0], mx))
        iy = max(0.0, min(bbox[1] + bbox[3], my + mh) - max(bbox[1], my))
        union = bbox[2] * bbox[3] + mw * mh - ix * iy
        if union > 0 and ix * iy / union < 0.5:
            report.warning("bbox_mask_mismatch", f"bbox {bbox} and the mask's box "
                           f"{[mx, my, mw, mh]} overlap with IoU < 0.5", file, record)


def _check_image_file(report: ValidationReport, path: Path, height: int, width: int, file: str, record: str) -> None:
    if not path.is_file():
        report.error("missing_image", f"image file {path} does not exist", file, record)
        return
    try:
        image = read_image(path)
    except ImageReadError as exc:
        report.error("unreadable_image", str(exc), file, record)
        return
    h, w = image.shape[:2]
    if (h, w) != (height, width):
        swapped = " (width and height look swapped)" if (w, h) == (height, width) else ""
        report.error("size_mismatch", f"{path} is {w}x{h} but the JSON says {width}x{height}{swapped}", file, record)


def validate_coco(ann_file: str | os.PathLike, image_dir: str | os.PathLike, check_images: bool = True) -> ValidationReport:
    """Check a COCO instance segmentation file (and, with ``check_images``, every image file)."""
    file = str(ann_file)
    report = ValidationReport(file)
    try:
        data = load_json(ann_file)
    except DatasetError as exc:
        report.error("unreadable_json", str(exc))
        return report
    category_ids = _check_categories(report, data, file)
    images = data.get("images")
    if not isinstance(images, list) or not images:
        report.error("empty_dataset", "contains no images (the 'images' list is missing or empty)", file)
        images = []
    sizes: dict[Any, tuple[int, int]] = {}
    for rec in images:
        record = f"image id {rec.get('id') if isinstance(rec, dict) else '?'}"
        if not isinstance(rec, dict) or not {"id", "file_name", "width", "height"} <= rec.keys():
            report.error("bad_image_record", "image record needs id, file_name, width and height", file, record)
            continue
        if rec["id"] in sizes:
            report.error("duplicate_id", "image id appears more than once", file, record)
            continue
        height, width = int(rec["height"]), int(rec["width"])
        sizes[rec["id"]] = (height, width)
        if check_images:
            _check_image_file(report, Path(image_dir) / str(rec["file_name"]), height, width, file, record)
    annotations = data.get("annotations") or []
    seen_ids: set = set()
    used_images: set = set()
    for ann in annotations:
        record = f"annotation id {ann.get('id') if isinstance(ann, dict) else '?'}"
        if not isinstance(ann, dict):
            report.error("bad_annotation", "annotation is not a JSON object", file, record)
            continue
        if ann.get("id") in seen_ids:
            report.error("duplicate_id", "annotation id appears more than once", file, record)
        seen_ids.add(ann.get("id"))
        if ann.get("image_id") not in sizes:
            report.error("unknown_image", f"image_id {ann.get('image_id')!r} has no image record", file, record)
            continue
        used_images.add(ann["image_id"])
        if category_ids and ann.get("category_id") not in category_ids:
            report.error("unknown_category", f"category_id {ann.get('category_id')!r} is not in 'categories' "
                         f"{sorted(category_ids)[:20]}", file, record)
        if ann.get("iscrowd", 0) not in (0, 1):
            report.warning("bad_iscrowd", f"iscrowd should be 0 or 1, got {ann.get('iscrowd')!r}", file, record)
        height, width = sizes[ann["image_id"]]
        _check_bbox(report, ann.get("bbox"), height, width, file, record)
        _check_segmentation(report, ann.get("segmentation"), ann.get("bbox"), height, width, file, record)
    report.stats.update(images=len(sizes), annotations=len(annotations),
                        images_without_annotations=len(set(sizes) - used_images))
    return report


def validate_ytvis(ann_file: str | os.PathLike, frames_root: str | os.PathLike, check_images: bool = True) -> ValidationReport:
    """Check a YouTube-VIS file: annotated frames (with ``check_images``: read and size-checked),
    the raw frames between them (needed for reference-frame sampling), and every annotation."""
    file = str(ann_file)
    report = ValidationReport(file)
    try:
        data = load_json(ann_file)
    except DatasetError as exc:
        report.error("unreadable_json", str(exc))
        return report
    category_ids = _check_categories(report, data, file)
    videos = data.get("videos")
    if not isinstance(videos, list) or not videos:
        report.error("empty_dataset", "contains no videos (the 'videos' list is missing or empty)", file)
        videos = []
    info: dict[Any, tuple[int, int, int]] = {}  # video id -> (height, width, number of file names)
    for rec in videos:
        record = f"video id {rec.get('id') if isinstance(rec, dict) else '?'}"
        if not isinstance(rec, dict) or not isinstance(rec.get("file_names"), list) or not rec["file_names"] \
                or not {"id", "width", "height"} <= rec.keys():
            report.error("bad_video_record", "video record needs id, width, height and non-empty file_names", file, record)
            continue
        if rec["id"] in info:
            report.error("duplicate_id", "video id appears more than once", file, record)
            continue
        height, width = int(rec["height"]), int(rec["width"])
        info[rec["id"]] = (height, width, len(rec["file_names"]))
        try:
            parsed = [parse_frame_name(n, record) for n in rec["file_names"]]
        except DatasetError as exc:
            report.error("bad_file_name", str(exc).split(": ", 1)[-1], file, record)
            continue
        if not check_images:
            continue
        for name in rec["file_names"]:
            _check_image_file(report, Path(frames_root) / name, height, width, file, f"{record}, {name}")
        folder, prefix, _, digits, ext = parsed[0]
        missing = [f for f in range(0, max(p[2] for p in parsed))
                   if not (Path(frames_root) / folder / f"{prefix}{f:0{digits}d}{ext}").is_file()]
        if missing:
            report.warning("missing_raw_frames", f"{len(missing)} raw frames between the annotated ones are missing "
                           f"(first: {missing[:5]}); reference-frame sampling needs all frames", file, record)
    annotations = data.get("annotations") or []
    for ann in annotations:
        record = f"annotation id {ann.get('id') if isinstance(ann, dict) else '?'}"
        if not isinstance(ann, dict):
            report.error("bad_annotation", "annotation is not a JSON object", file, record)
            continue
        if ann.get("video_id") not in info:
            report.error("unknown_video", f"video_id {ann.get('video_id')!r} has no video record", file, record)
            continue
        if category_ids and ann.get("category_id") not in category_ids:
            report.error("unknown_category", f"category_id {ann.get('category_id')!r} is not in 'categories'", file, record)
        height, width, length = info[ann["video_id"]]
        segs = ann.get("segmentations")
        if not isinstance(segs, list) or len(segs) != length:
            report.error("length_mismatch", f"'segmentations' must have {length} entries (one per file name)", file, record)
            continue
        bboxes = ann.get("bboxes")
        if bboxes is not None and (not isinstance(bboxes, list) or len(bboxes) != length):
            report.warning("length_mismatch", f"'bboxes' should have {length} entries", file, record)
            bboxes = None
        if all(s is None for s in segs):
            report.warning("empty_track", "object is absent from every annotated frame", file, record)
        for i, seg in enumerate(segs):
            if seg is None:
                continue
            bbox = bboxes[i] if bboxes else None
            where = f"{record}, frame entry {i}"
            if bbox is not None:
                _check_bbox(report, bbox, height, width, file, where)
            _check_segmentation(report, seg, bbox, height, width, file, where)
    report.stats.update(videos=len(info), annotations=len(annotations))
    return report
