"""``yolactedge predict``: annotated images/videos and JSON results for any source."""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

from yolactedge.cli.common import add_model_args, load_predictor

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("predict", help="run a model on images, folders, videos, webcams or streams")
    add_model_args(p)
    p.add_argument("--source", required=True, help="image, folder, glob, video file, webcam index (0) or URL")
    p.add_argument("--out", default="runs/predict", help="output folder (created)")
    p.add_argument("--conf", type=float, default=0.25, help="minimum score")
    p.add_argument("--iou", type=float, default=None, help="NMS IoU threshold (default: the config's, 0.5)")
    p.add_argument("--max-det", type=int, default=None, help="detections per image")
    p.add_argument("--classes", type=int, nargs="+", default=None, help="keep only these class indices")
    p.add_argument("--nms", choices=("fast", "traditional"), default=None)
    p.add_argument("--no-masks", action="store_true", help="boxes only (skips mask assembly)")
    p.add_argument("--box-from-mask", action="store_true",
                   help="report each box as its mask's tight box (not the original's; BENCHMARKS.md)")
    p.add_argument("--keyframe-interval", type=int, default=None, help="video presets: a keyframe every N frames")
    p.add_argument("--adaptive-keyframes", action="store_true", help="also a new keyframe on scene changes")
    p.add_argument("--reuse-prototypes", action="store_true",
                   help="video presets: warp the keyframe's prototypes on non-keyframes (faster, less accurate)")
    p.add_argument("--reuse-heads", type=float, default=None, metavar="THRESH",
                   help="video presets: reuse the keyframe's head outputs on FPN levels that changed less than THRESH")
    p.add_argument("--track", action="store_true", help="video: keep instance ids across frames (mask IoU)")
    p.add_argument("--ytvis-json", default=None, metavar="FILE",
                   help="video: also write YouTube-VIS results (one entry per track, per-frame RLE or null; implies "
                        "--track)")
    p.add_argument("--ytvis-ann", default=None, metavar="FILE",
                   help="with --ytvis-json: take video ids (by video file stem = folder name), category ids (by class "
                        "name) and the annotated frames from this YouTube-VIS annotation file, so the export can be "
                        "scored against it")
    p.add_argument("--vid-stride", type=int, default=1, help="process every N-th video frame")
    p.add_argument("--json", choices=("polygon", "rle", "none"), default="polygon", help="mask encoding in the JSON")
    p.add_argument("--no-save", action="store_true", help="do not write annotated images/videos")
    p.add_argument("--show", action="store_true", help="display results (disabled on headless machines)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.ytvis_ann and not args.ytvis_json:
        raise SystemExit("error: --ytvis-ann only applies with --ytvis-json FILE")
    if args.ytvis_json and args.no_masks:
        raise SystemExit("error: --ytvis-json writes masks: drop --no-masks")
    if getattr(args, "box_from_mask", False) and args.no_masks:
        raise SystemExit("error: --box-from-mask takes each box from its mask: drop --no-masks")
    return write_predictions(load_predictor(args), args)


def _ytvis_exporter(predictor, args: argparse.Namespace, source):
    """The YouTube-VIS collector of ``--ytvis-json``, or None; still-image sources are refused
    (the format describes videos and tracking only runs on video frames)."""
    from yolactedge.api.ytvis_export import YTVISExporter
    from yolactedge.data.errors import DatasetError
    from yolactedge.data.sources import SourceError

    if not getattr(args, "ytvis_json", None):
        return None
    if not source.is_video:
        raise SourceError(f"--ytvis-json needs a video source (video file, webcam or stream): {args.source!r} is "
                          "still images, which are not tracked (encode a folder of frames as a video first: "
                          "yolactedge.api.video_io.frames_to_video)")
    ann = getattr(args, "ytvis_ann", None)
    if not ann:
        return YTVISExporter()
    try:
        return YTVISExporter.for_annotations(ann, [predictor.names[i] for i in sorted(predictor.names)])
    except (OSError, ValueError) as exc:
        raise DatasetError(f"--ytvis-ann {ann}: {exc}") from None


def write_predictions(predictor, args: argparse.Namespace) -> int:
    """Run ``predictor`` over ``args.source`` and write annotated images/videos + JSON to ``args.out``."""
    from yolactedge.runtime.progress import progress
    from yolactedge.api.video_io import VideoSink, resolve_show, show_image
    from yolactedge.data.errors import DatasetError
    from yolactedge.data.sources import load_source

    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    show = resolve_show(args.show)
    source = load_source(args.source, vid_stride=args.vid_stride)
    exporter = _ytvis_exporter(predictor, args, source)
    reuse_prototypes, reuse_heads = getattr(args, "reuse_prototypes", False) or None, getattr(args, "reuse_heads", None)
    try:
        predictor.check_reuse_options(reuse_prototypes, reuse_heads)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    results_stream = predictor.predict(
        source, conf=args.conf, iou=args.iou, max_det=args.max_det, classes=args.classes, masks=not args.no_masks,
        stream=True, keyframe_interval=args.keyframe_interval, adaptive_keyframes=args.adaptive_keyframes,
        nms=args.nms, track=getattr(args, "track", False) or exporter is not None,
        box_from_mask=getattr(args, "box_from_mask", False) or None,
        reuse_prototypes=reuse_prototypes, reuse_heads=reuse_heads,
    )
    include = None if args.json == "none" else args.json
    records: dict[str, list] = {}
    sinks: dict[str, VideoSink] = {}
    times: list[float] = []
    keyframes = 0
    start = time.perf_counter()
    total = getattr(source, "expected_length", None)
    try:
        for frame_result in progress(results_stream, total=total, desc="predict"):
            times.append(sum(frame_result.speed.values()))
            keyframes += bool(getattr(frame_result, "keyframe", True))
            stem = Path(frame_result.path).stem
            video = getattr(frame_result, "source", None)
            group = _group_name(frame_result)
            records.setdefault(group, []).append(frame_result.to_dict(include_masks=include))
            if exporter is not None and _is_video_frame(frame_result):
                try:
                    exporter.add(frame_result)
                except ValueError as exc:  # a video the --ytvis-ann file does not list
                    raise DatasetError(str(exc)) from None
            if args.no_save and not show:
                continue
            plotted = frame_result.plot(masks=not args.no_masks)
            if not args.no_save:
                if _is_video_frame(frame_result):
                    sink = sinks.get(group)
                    if sink is None:
                        fps = getattr(frame_result, "fps", None) or 25.0
                        sink = sinks[group] = VideoSink(out_dir / f"{group}_annotated.mp4", fps, plotted.shape[1::-1])
                    sink.write(plotted)
                else:
                    frame_result.save(out_dir / f"{stem}.jpg", masks=not args.no_masks)
            if show and not show_image(plotted):
                break
            del video
    finally:
        for sink in sinks.values():
            sink.close()
    wall = time.perf_counter() - start
    for group, items in records.items():
        (out_dir / f"{group}.json").write_text(json.dumps(items))
    n = len(times)
    stats = source.stats if hasattr(source, "stats") else None
    skipped = f", {stats.skipped} skipped" if stats is not None and getattr(stats, "skipped", 0) else ""
    if n:
        print(f"{n} frames processed{skipped}; {np.mean(times):.1f} ms/frame in the model pipeline "
              f"({1000.0 / max(np.mean(times), 1e-9):.1f} FPS), {n / wall:.1f} FPS end to end incl. I/O and drawing")
        if predictor.is_video:
            print(f"keyframes: {keyframes} of {n}")
    else:
        print(f"no frames processed{skipped}")
    if exporter is not None:
        from yolactedge.api.ytvis_export import dump_ytvis_json

        entries = exporter.entries()
        path = dump_ytvis_json(entries, args.ytvis_json)
        print(f"YouTube-VIS results: {len(entries)} tracks in {exporter.num_videos} video(s) written to {path}")
    written = sorted(p.name for p in out_dir.iterdir())
    print(f"results written to {out_dir}/: {', '.join(written[:8])}{' ...' if len(written) > 8 else ''}")
    return 0 if n else 1


def _is_video_frame(result) -> bool:
    return bool(getattr(result, "is_video", False))


def _group_name(result) -> str:
    """One JSON/video per video source; one JSON for all still images."""
    if _is_video_frame(result):
        return Path(str(getattr(result, "source", "video"))).stem or "video"
    return "predictions"
