"""How faithful a model's fresh top is: the estimate loss of its M4/M5 estimates on val frames.

The loss is stage 3's own (``fresh_estimate_loss``: cosine distance on the features and after the
phase-2 convs, 0 = the full network's M4/M5). Across the fresh-top runs in BENCHMARKS.md it ranks
the non-keyframe mask gap, so it is a cheap way to compare fresh tops before a full video evaluation.
Each frame is paired with the frame ``--distance`` raw frames earlier as its keyframe: tops that read
the warped features (``--fresh-lite-input c3+warp``) need it, and the same loss of the warped M4/M5
themselves (the original scheme) is printed alongside as the baseline.

    python benchmarks/fresh_estimate.py --data runs/val48 --models runs/ft21/joint/last.pt ... [--frames 64]

``--data``: a YouTube-VIS-format folder (``val/`` or the folder itself with ``JPEGImages/`` and
``annotations.json``); every ``stride``-th raw frame of its videos from frame ``distance`` on, the
first ``--frames`` of them.
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


def pick_pairs(videos: YTVISDataset, count: int, stride: int, distance: int) -> list[tuple]:
    """(keyframe, frame) pairs: every ``stride``-th raw frame from ``distance`` on, video by video, the
    first ``count``, each with the frame ``distance`` raw frames earlier."""
    last = {}
    for video, frame in videos.annotated_frames():
        last[video] = max(frame, last.get(video, 0))
    pairs = []
    for video in range(videos.num_videos):
        length = videos.video_info(video).get("length") or last.get(video, 0) + 1
        for frame in range(distance, int(length), stride):
            pairs.append((videos.load_frame(video, frame - distance), videos.load_frame(video, frame)))
            if len(pairs) == count:
                return pairs
    return pairs


@torch.no_grad()
def estimate_loss(model, pairs: list, preprocess, batch: int = 16) -> tuple[float, float]:
    """Mean estimate loss of the fresh top and of the warped M4/M5 alone over ``pairs`` (weighted by batch size)."""
    if getattr(model, "fresh_top", None) is None:
        raise ValueError("this model has no fresh top (train-video --fresh-blocks / --fresh-lite)")
    fresh = model.fresh_top
    total = warp_total = 0.0
    for start in range(0, len(pairs), batch):
        keys, frames = zip(*pairs[start:start + batch])
        x = preprocess_batch(list(frames), preprocess)
        (_, m4, m5), lateral, c3 = model.keyframe_features_and_c3(x)
        state = model.make_keyframe_state(*model.keyframe_features(preprocess_batch(list(keys), preprocess)))
        w4, w5 = model.warp_top_levels(lateral, state)
        estimates = fresh.estimate(c3, w4, w5) if fresh.sees_warp else fresh.estimate(c3)
        pred = model.fpn_phase_2.pred_layers
        total += float(fresh_estimate_loss((m4, m5), estimates, pred)) * len(x)
        warp_total += float(fresh_estimate_loss((m4, m5), (w4 if estimates[0] is not None else None, w5), pred)) * len(x)
    return total / len(pairs), warp_total / len(pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--models", nargs="+", required=True)
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--stride", type=int, default=7)
    parser.add_argument("--distance", type=int, default=3, help="keyframe distance in raw frames (default 3)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(min(torch.get_num_threads(), 2))
    pairs = pick_pairs(open_videos(args.data), args.frames, args.stride, args.distance)
    report = {}
    for path in args.models:
        checkpoint = read_checkpoint(path)
        model = build_model(checkpoint.config).eval()
        load_model_weights(model, checkpoint)
        loss, warp_loss = estimate_loss(model, pairs, checkpoint.config.preprocess)
        report[path] = {"estimate": loss, "warped": warp_loss}
        print(f"{path}: estimate loss {loss:.4f} (the warped M4/M5 alone: {warp_loss:.4f}) on {len(pairs)} frames "
              f"at distance {args.distance}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
