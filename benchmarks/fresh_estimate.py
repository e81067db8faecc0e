"""How faithful a model's fresh top is: the estimate loss of its M4/M5 estimates on val frames.

The loss is stage 3's own (``fresh_estimate_loss``: cosine distance on the features and after the
phase-2 convs, 0 = the full network's M4/M5). Across the fresh-top runs in BENCHMARKS.md it ranks
the non-keyframe mask gap, so it is a cheap way to compare fresh tops before a full video evaluation.

    python benchmarks/fresh_estimate.py --data runs/val48 --models runs/ft21/joint/last.pt ... [--frames 64]

``--data``: a YouTube-VIS-format folder (``val/`` or the folder itself with ``JPEGImages/`` and
``annotations.json``); every ``stride``-th raw frame of its videos, the first ``--frames`` of them.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from yolactedge.checkpoints import load_model_weights, read_checkpoint
from yolactedge.cli.train_video import ytvis_split
from yolactedge.data.preprocess import preprocess_batch
from yolactedge.data.ytvis import YTVISDataset
from yolactedge.model import build_model
from yolactedge.train.video_losses import fresh_estimate_loss


def open_videos(root: Path) -> YTVISDataset:
    """``root/val`` if it is a split folder, else ``root`` itself."""
    videos = ytvis_split(root, "val") or ytvis_split(root, ".")
    if videos is None:
        raise SystemExit(f"error: {root} has neither val/annotations.json nor annotations.json")
    return videos


def pick_frames(videos: YTVISDataset, count: int, stride: int) -> list:
    """Every ``stride``-th raw frame, video by video, the first ``count``."""
    last = {}
    for video, frame in videos.annotated_frames():
        last[video] = max(frame, last.get(video, 0))
    frames = []
    for video in range(videos.num_videos):
        length = videos.video_info(video).get("length") or last.get(video, 0) + 1
        for frame in range(0, int(length), stride):
            frames.append(videos.load_frame(video, frame))
            if len(frames) == count:
                return frames
    return frames


@torch.no_grad()
def estimate_loss(model, frames: list, preprocess, batch: int = 16) -> float:
    """Mean estimate loss over ``frames`` (weighted by batch size)."""
    if getattr(model, "fresh_top", None) is None:
        raise ValueError("this model has no fresh top (train-video --fresh-blocks / --fresh-lite)")
    total = 0.0
    for start in range(0, len(frames), batch):
        x = preprocess_batch(frames[start:start + batch], preprocess)
        (_, m4, m5), _, c3 = model.keyframe_features_and_c3(x)
        estimates = model.fresh_top.estimate(c3)
        total += float(fresh_estimate_loss((m4, m5), estimates, model.fpn_phase_2.pred_layers)) * len(x)
    return total / len(frames)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--models", nargs="+", required=True)
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--stride", type=int, default=7)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(min(torch.get_num_threads(), 2))
    frames = pick_frames(open_videos(args.data), args.frames, args.stride)
    report = {}
    for path in args.models:
        checkpoint = read_checkpoint(path)
        model = build_model(checkpoint.config).eval()
        load_model_weights(model, checkpoint)
        report[path] = estimate_loss(model, frames, checkpoint.config.preprocess)
        print(f"{path}: estimate loss {report[path]:.4f} on {len(frames)} frames")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
