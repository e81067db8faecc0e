"""``yolactedge benchmark``: end-to-end speed (and mAP) of backends x precision plans in one run.

    yolactedge benchmark                                             # bundled model, PyTorch vs ONNX Runtime
    yolactedge benchmark --config yolact_edge_resnet50_config --random-weights \\
        --backends pytorch,onnxruntime,openvino --precision fp32,paper,int8 --json bench.json
    yolactedge benchmark --model best.pt --source video.mp4 --keyframe-interval 5 --frames 60
    yolactedge benchmark --model best.pt --backends onnxruntime --precision fp32,int8 --data data/shapes

Engines are exported to a temporary folder (``--work DIR`` keeps and reuses them), warmed up, then
timed in interleaved rounds; ratios are against the first row.
"""
from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "benchmark", help="end-to-end speed of backends x precision plans (per-stage times, FPS, optional mAP)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    m = p.add_argument_group("model")
    m.add_argument("--model", default=None, help="checkpoint (.pt/.pth); default: the bundled demo model")
    m.add_argument("--config", default=None,
                   help="preset: with --random-weights (speed only) or for original plain state dicts")
    m.add_argument("--random-weights", action="store_true",
                   help="random weights (speed does not depend on them; detections and mAP are meaningless)")
    m.add_argument("--imgsz", type=int, nargs="+", default=None, metavar=("H", "W"),
                   help="network input size: one value (square) or H W; default: the model's")
    e = p.add_argument_group("engines")
    e.add_argument("--backends", default="pytorch,onnxruntime",
                   help="comma list of pytorch, onnxruntime, openvino, tensorrt (default pytorch,onnxruntime)")
    e.add_argument("--precision", default="fp32",
                   help="comma list of plans: presets (fp32, fp16, int8, paper) or group=precision items, which "
                        "join the plan before them ('paper,proto=fp16,int8' = 2 plans); ';' separates plans "
                        "explicitly. PyTorch runs fp32 only")
    e.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 (OpenVINO: CPU, GPU, NPU)")
    e.add_argument("--calib", default=None,
                   help="INT8 calibration images (default: --source files, else generated images)")
    e.add_argument("--calib-count", type=int, default=16, help="calibration images (default 16)")
    e.add_argument("--work", default=None, help="keep exports here and reuse them on the next run "
                                                "(default: a temporary folder)")
    e.add_argument("--exporter", default="dynamo", choices=("dynamo", "torchscript"), help="torch ONNX exporter")
    i = p.add_argument_group("input")
    i.add_argument("--source", default=None,
                   help="image, folder, glob, .txt list or video (default: generated synthetic images)")
    i.add_argument("--frames", type=int, default=8, help="frames per engine and round (default 8)")
    i.add_argument("--synthetic-size", type=int, nargs=2, default=(480, 640), metavar=("H", "W"),
                   help="size of the generated images (default 480 640)")
    i.add_argument("--keyframe-interval", type=int, default=None,
                   help="video presets on video input: a keyframe every N frames (default: the config's)")
    i.add_argument("--no-draw", action="store_true", help="leave drawing out of the timed path")
    i.add_argument("--no-encode", action="store_true", help="video input: do not encode the drawn frames")
    t = p.add_argument_group("timing and output")
    t.add_argument("--rounds", type=int, default=3, help="interleaved timed rounds (default 3; median reported)")
    t.add_argument("--warmup", type=int, default=2, help="untimed frames per engine first (default 2)")
    t.add_argument("--conf", type=float, default=0.25, help="score threshold of the timed predictions")
    t.add_argument("--json", default=None, help="also write the results as JSON here")
    t.add_argument("--no-flops", action="store_true", help="skip counting the model's MACs")
    t.add_argument("--verbose", action="store_true", help="full export progress")
    d = p.add_argument_group("accuracy (optional)")
    d.add_argument("--data", default=None, help="COCO dataset root (val/annotations.json) or annotation file: "
                                                "adds box/mask mAP per engine (the `val` code path)")
    d.add_argument("--val-images", default=None)
    d.add_argument("--val-ann", default=None)
    d.add_argument("--max-images", type=int, default=None, help="mAP on the first N images only")
    p.set_defaults(func=run)


def _data_split(args: argparse.Namespace):
    if not (args.data or args.val_ann or args.val_images):
        return None
    from yolactedge.cli.train import resolve_data
    from yolactedge.data.errors import DatasetError

    splits = resolve_data(args.data, {"val_images": args.val_images, "val_ann": args.val_ann})
    chosen = splits.get("val") or splits.get("train")
    if chosen is None:
        raise DatasetError("no split found: pass --data ROOT (with val/annotations.json) or --val-images DIR "
                           "--val-ann FILE")
    return chosen


def run(args: argparse.Namespace) -> int:
    from yolactedge.checkpoints.io import CheckpointError
    from yolactedge.data.errors import DatasetError
    from yolactedge.data.sources import SourceError
    from yolactedge.deploy.backends.tensorrt import TensorRTUnavailable
    from yolactedge.bench.run import BenchmarkError, BenchmarkOptions, load_benchmark_model, run_benchmark
    from yolactedge.deploy.calibration import CalibrationError
    from yolactedge.deploy.parity import ParityError

    say = lambda msg: print(msg, flush=True)  # noqa: E731
    try:
        options = BenchmarkOptions(
            backends=args.backends, precisions=args.precision, source=args.source, frames=args.frames,
            rounds=args.rounds, warmup=args.warmup, keyframe_interval=args.keyframe_interval, conf=args.conf,
            draw=not args.no_draw, encode=False if args.no_encode else None, device=args.device, calib=args.calib,
            calib_count=args.calib_count, work_dir=args.work, data=_data_split(args), map_images=args.max_images,
            synthetic_size=tuple(args.synthetic_size), exporter=args.exporter, count_flops=not args.no_flops,
            verbose=args.verbose,
        )
        options.validate()  # bad flags fail before the model is loaded
        model, config, weights = load_benchmark_model(args.model, args.config, args.random_weights, args.imgsz)
        say(f"benchmark {config.name} {config.input_size[0]}x{config.input_size[1]} ({weights}): "
            f"backends {', '.join(options.backend_list)}; plans {' | '.join(options.plan_list)}")
        report = run_benchmark(model, config, options, weights=weights, say=say)
    except (BenchmarkError, CalibrationError, CheckpointError, DatasetError, SourceError, TensorRTUnavailable,
            ImportError, ValueError) as exc:  # PrecisionPlanError, a model/dataset class mismatch: ValueErrors
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ParityError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    print()
    print(report.table())
    if args.json:
        print(f"wrote {report.write_json(args.json)}")
    return 0
