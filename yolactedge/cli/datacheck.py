"""``yolactedge data-check ANN_FILE IMAGE_DIR``: lint a COCO or YouTube-VIS dataset before training."""
from __future__ import annotations

import argparse
import json

from yolactedge.data.validate import validate_coco, validate_ytvis


def _detect_format(ann_file: str) -> str:
    """'ytvis' when the JSON has a 'videos' list, else 'coco' (unreadable files: let coco report it)."""
    try:
        with open(ann_file, "r", encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return "coco"
    return "ytvis" if isinstance(data, dict) and "videos" in data else "coco"


def _run(args: argparse.Namespace) -> int:
    fmt = _detect_format(args.ann_file) if args.format == "auto" else args.format
    check = validate_ytvis if fmt == "ytvis" else validate_coco
    report = check(args.ann_file, args.image_dir, check_images=not args.no_images)
    print(report.format(max_per_code=args.max_per_code))
    if report.ok:
        return 0
    print("Fix the errors above (the reader would fail or train on wrong targets), then run data-check again.")
    return 1


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "data-check", help="check a COCO / YouTube-VIS dataset for annotation and file problems",
        description="Lint a dataset: missing/unreadable images, size mismatches, unknown category ids, "
                    "empty or out-of-image boxes, degenerate polygons, missing segmentations. "
                    "Exit code 0 when there are no errors, 1 otherwise.")
    parser.add_argument("ann_file", metavar="ANN_FILE", help="COCO or YouTube-VIS annotation JSON")
    parser.add_argument("image_dir", metavar="IMAGE_DIR", help="image folder (YouTube-VIS: the frames root)")
    parser.add_argument("--format", choices=("auto", "coco", "ytvis"), default="auto",
                        help="annotation format (default: auto-detect from the JSON)")
    parser.add_argument("--no-images", action="store_true", help="skip opening image files (JSON checks only)")
    parser.add_argument("--max-per-code", type=int, default=5, help="examples shown per kind of problem")
    parser.set_defaults(func=_run)
