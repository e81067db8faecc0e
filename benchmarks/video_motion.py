"""How fast do things move in the synthetic video benchmark compared with real video?

    python benchmarks/video_motion.py --synth val48 [val48_m0.5 ...] \\
        [--real /usr/share/doc/opencv-doc/examples/data/vtest.avi ...] [--distances 1 4]

The keyframe-distance accuracy of feature warping depends on how far content moves between a
keyframe and the frame warped from it, so a benchmark's motion decides how much warping costs on
it. This measures motion the same way on both kinds of video: every frame is scaled to a short
side of ``--size`` pixels (the benchmark's 320 by default), and OpenCV's Farneback flow is computed
between frame t and frame t+d. Per pair it takes the mean flow length and the 90th / 99th
percentile over pixels (the moving objects, not the static background, set the percentiles), in
percent of the short side; the table gives the median over pairs. Farneback underestimates large
motions on both kinds of video alike, so the comparison is like for like.

Default real videos: the moving clips shipped by Debian's ``opencv-doc`` (``vtest.avi``, a static
camera on walking pedestrians; ``tree.avi``; ``Megamind.avi``, an animated trailer with cuts, where
the median over pairs keeps cuts out).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

OPENCV_DATA = Path("/usr/share/doc/opencv-doc/examples/data")
DEFAULT_REAL = ("vtest.avi", "tree.avi", "Megamind.avi")


def scaled_gray(frame: np.ndarray, size: int) -> np.ndarray:
    h, w = frame.shape[:2]
    f = size / min(h, w)
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
    return cv2.resize(gray, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA)


def read_video(path: Path, size: int, max_frames: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while len(frames) < max_frames:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(scaled_gray(frame, size))
    cap.release()
    if len(frames) < 2:
        raise SystemExit(f"{path}: could not read at least 2 frames (missing file or no codec)")
    return frames


def synth_videos(root: Path, size: int, max_videos: int) -> list[list[np.ndarray]]:
    frames_dir = (root / "val" if (root / "val" / "JPEGImages").is_dir() else root) / "JPEGImages"
    folders = sorted(p for p in frames_dir.iterdir() if p.is_dir())[:max_videos] if frames_dir.is_dir() else []
    if not folders:
        raise SystemExit(f"{root}: no video folders under {frames_dir}")
    return [[scaled_gray(cv2.imread(str(p)), size) for p in sorted(f.glob("*.jpg"))] for f in folders]


def pair_stats(flow: np.ndarray, short_side: float) -> np.ndarray:
    length = np.linalg.norm(flow, axis=-1).ravel() * (100.0 / short_side)
    return np.array([length.mean(), np.percentile(length, 90), np.percentile(length, 99)])


def farneback(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 4, 15, 3, 5, 1.2, 0)


def motion(videos: list[list[np.ndarray]], distance: int, stride: int) -> np.ndarray:
    stats = [pair_stats(farneback(frames[t], frames[t + distance]), min(frames[t].shape))
             for frames in videos for t in range(0, len(frames) - distance, stride)]
    return np.median(np.stack(stats), 0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--synth", nargs="*", default=[], help="synthetic YouTube-VIS-format sets (root or split)")
    p.add_argument("--real", nargs="*", default=None, help="real video files (default: opencv-doc's clips)")
    p.add_argument("--distances", type=int, nargs="+", default=[1, 4])
    p.add_argument("--size", type=int, default=320, help="short side the frames are scaled to (default 320)")
    p.add_argument("--max-frames", type=int, default=150, help="frames read per real video")
    p.add_argument("--max-videos", type=int, default=12, help="videos per synthetic set")
    p.add_argument("--stride", type=int, default=2, help="pair every STRIDE-th frame (default 2)")
    args = p.parse_args(argv)
    real = [Path(r) for r in args.real] if args.real is not None else [
        OPENCV_DATA / n for n in DEFAULT_REAL if (OPENCV_DATA / n).is_file()]
    if not real and not args.synth:
        raise SystemExit("nothing to measure: pass --synth DIR and/or --real VIDEO (or install opencv-doc)")
    print(f"flow length in % of the short side ({args.size} px), median over frame pairs (Farneback)")
    print("| video | distance | mean | p90 | p99 |")
    print("|---|---|---|---|---|")
    for path in real:
        frames = read_video(path, args.size, args.max_frames)
        for d in args.distances:
            m = motion([frames], d, args.stride)
            print(f"| {path.name} (real) | {d} | {m[0]:.2f} | {m[1]:.2f} | {m[2]:.2f} |", flush=True)
    for root in args.synth:
        frames = synth_videos(Path(root), args.size, args.max_videos)
        for d in args.distances:
            m = motion(frames, d, args.stride)
            print(f"| {Path(root).name} (synthetic) | {d} | {m[0]:.2f} | {m[1]:.2f} | {m[2]:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
