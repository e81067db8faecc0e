"""``yolactedge val``: COCO box and mask mAP of a model on a COCO-format dataset.

    yolactedge val --model runs/exp/best.pt --data DATA_ROOT [--json-out results/]
    yolactedge val --model yolact_edge_54_800000.pth --config yolact_edge_config \\
        --val-images coco/val2017 --val-ann coco/annotations/instances_val2017.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from yolactedge.cli.common import add_model_args
from yolactedge.cli.train import add_data_args, resolve_data
from yolactedge.data.errors import DatasetError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("val", help="box and mask mAP on a COCO-format dataset",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_args(p)
    add_data_args(p, train=False)
    p.add_argument("--split", choices=("val", "train"), default="val", help="which split of a --data root")
    p.add_argument("--max-images", type=int, default=None, help="evaluate the first N images only")
    p.add_argument("--batch", type=int, default=4, help="images per forward pass")
    p.add_argument("--conf-thresh", type=float, default=None,
                   help="candidate filter before NMS (default: the config's 0.05, as the original's eval)")
    p.add_argument("--box-from-mask", action="store_true",
                   help="report each box as its mask's tight box (not the original's; BENCHMARKS.md)")
    p.add_argument("--json-out", default=None,
                   help="folder for bbox_detections.json / mask_detections.json (COCO results) and metrics.json")
    p.add_argument("--per-class", action="store_true", help="also print AP per class")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from yolactedge.cli.common import load_predictor
    from yolactedge.data.coco import CocoDataset
    from yolactedge.eval.report import dump_json, format_metrics, format_per_class
    from yolactedge.train.validate import evaluate_model

    explicit = {"val_images": args.val_images, "val_ann": args.val_ann}
    splits = resolve_data(args.data, explicit) if (args.data or args.val_ann) else {"val": None}
    chosen = splits.get(args.split)
    if chosen is None:
        raise DatasetError(f"no {args.split} split found: pass --data ROOT (with {args.split}/annotations.json) "
                           "or --val-images DIR --val-ann FILE")
    predictor = load_predictor(args)
    dataset = CocoDataset(*chosen)
    result = evaluate_model(predictor, dataset, max_images=args.max_images, batch_size=args.batch,
                            conf_thresh=args.conf_thresh, box_from_mask=args.box_from_mask or None)
    print(format_metrics(result.metrics, title=f"{result.num_images} images of {chosen[1]} "
                                               f"({result.seconds:.1f} s)"))
    if args.per_class:
        print(format_per_class(result.metrics))
    if args.json_out:
        out = Path(args.json_out)
        bbox, mask = result.evaluator.write_json(out)
        metrics = dump_json(result.metrics, out / "metrics.json")
        print(f"wrote {bbox}, {mask}, {metrics}")
    else:
        print(json.dumps(result.summary()))
    return 0
