"""``yolactedge val-video``: YouTube-VIS frame mAP of a video model per keyframe distance.

    yolactedge val-video --model runs/joint/best.pt --data YTVIS_ROOT --keyframe-interval 5
    yolactedge val-video --model runs/joint/best.pt --data YTVIS_ROOT --reuse-prototypes --reuse-heads 0.05
    yolactedge val-video --model yolact_edge_vid_847_50000.pth --config yolact_edge_vid_config \\
        --frames valid_all_frames/ --ann valid.v4.json

Each annotated frame is evaluated as a keyframe (distance 0, the all-keyframe mAP) and warped
from the frame d earlier for every d in 1..k-1 (the original's eval stride); "all" pools every
(frame, distance) pair, the number the original reports. Network time per path is printed too.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from yolactedge.data.errors import DatasetError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("val-video", help="YouTube-VIS frame mAP per keyframe distance",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="checkpoint (.pt/.pth) of a video model")
    p.add_argument("--config", default=None, help="preset name for original plain state dicts")
    p.add_argument("--device", default="auto")
    p.add_argument("--data", default=None, help="root with <split>/JPEGImages and <split>/annotations.json")
    p.add_argument("--split", default="val", help="split folder under --data (default val)")
    p.add_argument("--frames", default=None, help="folder with every raw frame (instead of --data)")
    p.add_argument("--ann", default=None, help="YouTube-VIS annotation file (instead of --data)")
    p.add_argument("--keyframe-interval", type=int, default=5, help="k: distances 0..k-1 (1: every frame a keyframe)")
    p.add_argument("--reuse-prototypes", action="store_true", help="warp the keyframe's prototypes on non-keyframes")
    p.add_argument("--reuse-heads", type=float, default=None, metavar="THRESH",
                   help="run the heads only on FPN levels that changed by more than THRESH since the keyframe")
    p.add_argument("--max-videos", type=int, default=None, help="evaluate the first N videos only")
    p.add_argument("--conf-thresh", type=float, default=None, help="candidate filter before NMS (default 0.05)")
    p.add_argument("--box-from-mask", action="store_true",
                   help="report each box as its mask's tight box (not the original's; BENCHMARKS.md)")
    p.add_argument("--json-out", default=None, help="write the metrics (per distance) to this JSON file")
    p.set_defaults(func=run)


def load_video_model(path: str, preset: str | None, device: str):
    """Build the checkpoint's architecture and load its weights (original files need ``preset``)."""
    from yolactedge.runtime.device import resolve_device
    from yolactedge.checkpoints import load_model_weights
    from yolactedge.model import build_model
    from yolactedge.train.video_trainer import read_init_checkpoint

    ckpt = read_init_checkpoint(path, preset)
    model = build_model(ckpt.config)
    load_model_weights(model, ckpt)
    return model.to(resolve_device(device)).eval()


def run(args: argparse.Namespace) -> int:
    from yolactedge.data.ytvis import YTVISDataset
    from yolactedge.eval.report import dump_json, format_by_distance
    from yolactedge.eval.video_eval import evaluate_video

    if args.ann:
        ann = Path(args.ann)
        frames = Path(args.frames) if args.frames else ann.parent / "JPEGImages"
    elif args.data:
        ann = Path(args.data) / args.split / "annotations.json"
        frames = Path(args.data) / args.split / "JPEGImages"
    else:
        raise DatasetError("pass --data YTVIS_ROOT (with <split>/annotations.json) or --ann FILE [--frames DIR]")
    if not ann.is_file():
        raise DatasetError(f"{ann}: annotation file does not exist")
    model = load_video_model(args.model, args.config, args.device)
    if args.keyframe_interval > 1 and not model.is_video:
        raise SystemExit(f"error: {args.model} is an image model: use --keyframe-interval 1")
    dataset = YTVISDataset(frames, ann)
    result = evaluate_video(model, dataset, keyframe_interval=args.keyframe_interval,
                            reuse_prototypes=args.reuse_prototypes, reuse_heads=args.reuse_heads,
                            max_videos=args.max_videos, conf_thresh=args.conf_thresh, show_progress=True,
                            box_from_mask=args.box_from_mask or None)
    options = []
    if args.reuse_prototypes:
        options.append("prototype reuse")
    if args.reuse_heads is not None:
        options.append(f"head reuse {args.reuse_heads:g}")
    title = (f"{result.num_frames} annotated frames of {result.num_videos} videos, keyframe interval "
             f"{args.keyframe_interval}{' (' + ', '.join(options) + ')' if options else ''}; {result.seconds:.1f} s")
    print(format_by_distance(result, title=title))
    if result.clamped:
        print(f"({result.clamped} frame evaluations near a video start used a shorter, clamped distance)")
    print(result.timing_table())
    if args.json_out:
        path = dump_json({"metrics": dict(result), "timings_ms": {k: t.mean_ms for k, t in result.timings.items()}},
                         args.json_out)
        print(f"wrote {path}")
    return 0
