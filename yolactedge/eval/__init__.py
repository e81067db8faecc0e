"""Evaluation: COCO result files, COCO box/mask mAP, YouTube-VIS frame mAP, reports (spec section 14)."""
from .coco_eval import BACKENDS, IOU_TYPES, METRIC_NAMES, Evaluator, evaluate_coco, load_coco_gt
from .coco_json import (
    decode_rles,
    detections_to_coco,
    encode_masks,
    load_coco_json,
    write_coco_json,
    write_detections,
    xyxy_to_xywh,
)
from .report import dump_json, format_by_distance, format_metrics, format_per_class, format_table
from .ytvis_eval import FrameEvaluator, frame_image_id, to_ytvis_results, ytvis_to_coco

__all__ = [
    "BACKENDS", "IOU_TYPES", "METRIC_NAMES", "Evaluator", "evaluate_coco", "load_coco_gt",
    "decode_rles", "detections_to_coco", "encode_masks", "load_coco_json", "write_coco_json",
    "write_detections", "xyxy_to_xywh", "dump_json", "format_by_distance", "format_metrics",
    "format_per_class", "format_table", "FrameEvaluator", "frame_image_id", "to_ytvis_results",
    "ytvis_to_coco",
]
