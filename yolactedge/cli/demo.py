"""``yolactedge demo``: the main job on an embedded default, no downloads.

Generates a short synthetic video (seeded), runs the bundled demo model on it (a freshly
initialised model, said loudly, if this installation has none) and writes an annotated video,
JSON results and an FPS summary.
"""
from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("demo", help="run the bundled demo model on a generated synthetic video")
    p.add_argument("--out", default="runs/demo", help="output folder")
    p.add_argument("--frames", type=int, default=60, help="length of the generated video")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--source", default=None, help="use this video/image source instead of a generated one")
    p.add_argument("--device", default="auto")
    p.add_argument("--conf", type=float, default=0.2)
    p.set_defaults(func=run)


def make_demo_video(out_dir: Path, frames: int, seed: int) -> Path:
    """A synthetic YouTube-VIS clip (moving textured shapes) encoded as an .avi file."""
    import cv2

    from yolactedge.data.synth import generate_video_dataset

    root = generate_video_dataset(out_dir / "input" / "frames", num_videos=1, num_val_videos=0, num_frames=frames,
                                  seed=seed, progress=False)
    frame_files = sorted(Path(root["train_frames"]).glob("*/*.jpg"))
    first = cv2.imread(str(frame_files[0]))
    path = out_dir / "input" / "synthetic_video.avi"
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 15.0, (first.shape[1], first.shape[0]))
    for f in frame_files:
        writer.write(cv2.imread(str(f)))
    writer.release()
    return path


def run(args: argparse.Namespace) -> int:
    from yolactedge.api.predictor import YolactEdge
    from yolactedge.assets import default_model_path
    from yolactedge.cli.predict import write_predictions
    from yolactedge.config.presets import get_config

    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    model_path = default_model_path()
    if model_path is not None:
        predictor = YolactEdge.load(model_path, device=args.device)
        print(f"model: bundled demo model {model_path.name} ({predictor.config.name}, "
              f"{len(predictor.names)} classes: {', '.join(predictor.names.values())})")
    else:
        print("NOTE: this installation has no bundled trained demo model; running a FRESHLY INITIALISED "
              "model, so the detections below are meaningless (the pipeline is what is shown).")
        predictor = YolactEdge.from_config(get_config("yolact_edge_resnet18_config"), device=args.device)
    source = args.source or str(make_demo_video(out_dir, args.frames, args.seed))
    print(f"source: {source}")
    ns = argparse.Namespace(
        source=source, out=str(out_dir), conf=args.conf, iou=None, max_det=None, classes=None, nms=None,
        no_masks=False, keyframe_interval=None, adaptive_keyframes=False, vid_stride=1, json="polygon",
        no_save=False, show=False,
    )
    return write_predictions(predictor, ns)
