"""``yolactedge export``: a checkpoint -> per-component ONNX / OpenVINO / TensorRT folder.

    yolactedge export --model weights.pt --out exported/ --format onnx --precision paper \\
        --imgsz 384 640 --calib data/calib_images --calib-count 100 [--whole-model]
    yolactedge export --model weights.pt --out exported/ --auto-precision --max-map-drop 1.0 --data DATA_ROOT

The folder loads with ``YolactEdge.load("exported/")`` (or ``--model exported/`` in predict).
"""
from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export", help="export a model to ONNX / OpenVINO / TensorRT components with a parity check",
        description="Export every network component (backbone, FPN, ProtoNet, head, flow...) in its own precision, "
                    "check it against PyTorch FP32 on real images, and write a folder YolactEdge.load() opens.",
    )
    p.add_argument("--model", default=None, help="checkpoint (.pt/.pth); default: the bundled demo model")
    p.add_argument("--config", default=None, help="preset for original plain state dicts, e.g. yolact_edge_config")
    p.add_argument("--out", required=True, help="output folder (replaced if it holds an earlier export)")
    p.add_argument("--format", dest="target", default="onnx", choices=("onnx", "openvino", "tensorrt"),
                   help="onnx: ONNX Runtime (CPU/CUDA); openvino: OpenVINO IR (CPU); tensorrt: engines (NVIDIA GPU)")
    p.add_argument("--precision", default=None,
                   help="preset (fp32, fp16, int8, paper) and/or group=precision items, e.g. "
                        "'backbone=int8,fpn=fp16,proto=int8,head=fp16,flow=int8' or 'paper,proto=fp16'. "
                        "Groups: backbone, fpn, proto, head, flow, transform. Default: fp16 for tensorrt, else fp32")
    p.add_argument("--imgsz", type=int, nargs="+", default=None, metavar=("H", "W"),
                   help="network input size: one value (square) or H W; default: the model's configured size")
    p.add_argument("--batch", type=int, default=1, help="static batch size of the engines (default 1)")
    p.add_argument("--calib", default=None, help="INT8 calibration images: folder, video, glob, .txt list or COCO json")
    p.add_argument("--calib-count", type=int, default=100, help="calibration images to use (default 100)")
    p.add_argument("--calib-stride", type=int, default=4, help="images per calibration step (bounds memory; default 4)")
    p.add_argument("--calib-bins", type=int, default=2048,
                   help="histogram bins of the entropy (KL) threshold search (default 2048, as TensorRT)")
    p.add_argument("--calib-cache", default=None, help="calibration cache folder (default ~/.cache/yolactedge/calibration)")
    p.add_argument("--int8-method", default="auto", choices=("auto", "qdq", "nncf"),
                   help="qdq: entropy calibration into Q/DQ ONNX (every backend); "
                        "nncf: OpenVINO's quantizer (openvino only); auto (default): nncf for --format openvino "
                        "when installed (more accurate at equal speed, see BENCHMARKS.md), else qdq")
    p.add_argument("--val", default=None, help="images for the parity check (default: calibration images, else generated)")
    p.add_argument("--val-count", type=int, default=None,
                   help="images in the parity check (default 4); with --auto-precision: validation images scored "
                        "for mAP (default 100; the parity check then uses 4)")
    a = p.add_argument_group("automatic precision plan (--auto-precision)")
    a.add_argument("--auto-precision", action="store_true",
                   help="score fp32, int8, the paper plan and a greedy per-group search for mask mAP and latency on "
                        "--data and export the fastest plan within --max-map-drop of the FP32 engine")
    a.add_argument("--max-map-drop", type=float, default=1.0,
                   help="accuracy budget: mask AP points below the FP32 engine (default 1.0)")
    a.add_argument("--max-candidates", type=int, default=8, help="plans scored at most, fp32 included (default 8)")
    a.add_argument("--data", default=None,
                   help="labelled COCO-format validation data, as for `yolactedge val --data` (root with val/, or a "
                        "dataset spec JSON); its train images calibrate INT8 when --calib is not given")
    p.add_argument("--whole-model", action="store_true", help="also write model.onnx (+ priors.npy) for integration")
    p.add_argument("--exporter", default="dynamo", choices=("dynamo", "torchscript"), help="torch ONNX exporter")
    p.add_argument("--device", default="auto", help="build/run device for tensorrt (cuda, cuda:1)")
    p.set_defaults(func=run)


def _config_with_size(config, imgsz):
    from yolactedge.deploy.export import with_input_size

    try:
        return with_input_size(config, imgsz)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None


def _auto_precision_data(args: argparse.Namespace):
    """(validation CocoDataset, default calibration folder) of --data; the train split calibrates when it has
    images (scoring plans on their own calibration images would flatter INT8)."""
    from yolactedge.cli.train import resolve_data
    from yolactedge.data.coco import CocoDataset
    from yolactedge.data.errors import DatasetError
    from yolactedge.data.image_io import is_image_file

    splits = resolve_data(args.data, {})
    chosen = splits.get("val") or splits.get("train")
    if chosen is None:
        raise DatasetError(f"{args.data}: no labelled split to score plans on")
    if splits.get("val") is None:
        print(f"note: {args.data} has no val split; scoring plans on {chosen[1]}")
    train = splits.get("train")
    calib = None
    if train is not None and train[0].is_dir() and any(is_image_file(f) for f in train[0].iterdir()):
        calib = str(train[0])
    return CocoDataset(*chosen), calib


def run(args: argparse.Namespace) -> int:
    from yolactedge.assets import default_model_path
    from yolactedge.checkpoints import load_model_weights, read_checkpoint
    from yolactedge.deploy.calibration import CalibrationError
    from yolactedge.deploy.export import ExportOptions, export_model
    from yolactedge.deploy.parity import ParityError
    from yolactedge.deploy.precision import PrecisionPlanError
    from yolactedge.deploy.backends.tensorrt import TensorRTUnavailable
    from yolactedge.model import build_model

    if args.auto_precision and not args.data:
        print("error: --auto-precision needs a labelled validation set to measure mask mAP: pass --data DATA_ROOT "
              "(COCO format: DATA_ROOT/val/annotations.json + val/images/, as `yolactedge val --data` takes)",
              file=sys.stderr)
        return 2
    if args.auto_precision and args.precision:
        print("error: --precision and --auto-precision exclude each other (the search chooses the plan)",
              file=sys.stderr)
        return 2
    if args.data and not args.auto_precision:
        print("error: --data is the validation set of --auto-precision; add --auto-precision (or drop --data)",
              file=sys.stderr)
        return 2
    path = args.model or default_model_path()
    if path is None:
        raise SystemExit("no --model given and no bundled demo model in this installation; pass --model CKPT")
    checkpoint = read_checkpoint(path, args.config)
    config = _config_with_size(checkpoint.config, args.imgsz)
    model = build_model(config)
    load_model_weights(model, checkpoint)
    precision = args.precision or ("fp16" if args.target == "tensorrt" else "fp32")
    parity_count = 4 if args.auto_precision or args.val_count is None else args.val_count
    options = ExportOptions(
        target=args.target, precision=precision, batch=args.batch, calib=args.calib, calib_count=args.calib_count,
        calib_stride=args.calib_stride, calib_cache=args.calib_cache, calib_bins=args.calib_bins,
        # The plan search scores the portable Q/DQ files (a pool shared by every candidate).
        int8_method="qdq" if args.auto_precision and args.int8_method == "auto" else args.int8_method,
        whole_model=args.whole_model, exporter=args.exporter, parity_source=args.val, parity_count=parity_count,
        device=args.device,
    )
    progress = lambda msg: print(msg, flush=True)  # noqa: E731
    try:
        if args.auto_precision:
            from yolactedge.deploy.auto_precision import DEFAULT_VAL_COUNT, RESULT_FILE, export_auto_precision

            dataset, train_images = _auto_precision_data(args)
            if options.calib is None and train_images is not None:
                options.calib = train_images
            result, search = export_auto_precision(
                model, config, args.out, dataset, options, progress=progress, max_drop=args.max_map_drop,
                max_candidates=args.max_candidates, val_count=args.val_count or DEFAULT_VAL_COUNT)
        else:
            result = export_model(model, config, args.out, options, progress=progress)
    except (CalibrationError, ParityError, PrecisionPlanError, TensorRTUnavailable, ValueError) as exc:
        print(f"export failed: {exc}", file=sys.stderr)
        return 1
    _print_summary(result)
    if args.auto_precision:
        c = search.chosen
        print(f"auto-precision chose {c.name} ({c.speedup:.2f}x fp32, mask AP drop {c.drop:.2f} <= "
              f"{search.max_drop:g}); plan table above, also in {result.folder / RESULT_FILE} and manifest.json")
    return 0


def _print_summary(result) -> None:
    manifest = result.manifest
    print(f"\nwrote {result.folder} ({manifest['target']}, plan {manifest['precision_plan']})")
    print(f"{'component':<17} {'precision':<9} {'file':<26} {'export s':>8} {'int8 s':>7}")
    for name, entry in manifest["components"].items():
        t = result.timings.get(name, {})
        int8 = f"{t['int8_s']:.1f}" if "int8_s" in t else "-"
        print(f"{name:<17} {entry['precision']:<9} {entry.get('openvino') or entry['file']:<26} "
              f"{t.get('export_s', 0):>8.1f} {int8:>7}")
    if manifest.get("whole_model"):
        print(f"whole model: {manifest['whole_model']['file']} + {manifest['whole_model']['priors']} "
              "(layout: yolactedge/deploy/README.md)")
    print(f"load it with: YolactEdge.load('{result.folder}')")
