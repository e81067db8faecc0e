"""``yolactedge synth images|video|flow OUT``: write a synthetic benchmark dataset."""
from __future__ import annotations

import argparse

from yolactedge.data.synth import generate_flow_pairs, generate_image_dataset, generate_video_dataset


def _size(values: list[int]):
    return values[0] if len(values) == 1 else (values[0], values[1])


def _common(parser: argparse.ArgumentParser, default_size: list[int]) -> None:
    parser.add_argument("out", metavar="OUT", help="output folder (created if needed)")
    parser.add_argument("--size", type=int, nargs="+", default=default_size, metavar="N",
                        help=f"image size: S for SxS, or H W (default: {' '.join(map(str, default_size))})")
    parser.add_argument("--seed", type=int, default=0, help="same seed -> byte-identical output (default 0)")
    parser.add_argument("--textures", metavar="DIR", default=None,
                        help="folder of photos to use as textures and backgrounds (default: procedural only)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _check_size(args: argparse.Namespace) -> None:
    if len(args.size) not in (1, 2):
        raise SystemExit(f"--size takes 1 or 2 numbers (S or H W), got {len(args.size)}")


def _print_paths(kind: str, paths: dict) -> int:
    print(f"Wrote synthetic {kind} dataset:")
    for key, path in paths.items():
        print(f"  {key:18s} {path}")
    return 0


def _images(args: argparse.Namespace) -> int:
    _check_size(args)
    paths = generate_image_dataset(args.out, num_train=args.train, num_val=args.val, image_size=_size(args.size),
                                   seed=args.seed, texture_dir=args.textures, image_format=args.format,
                                   progress=not args.quiet)
    return _print_paths("image (COCO)", paths)


def _video(args: argparse.Namespace) -> int:
    _check_size(args)
    if not args.motion_scale > 0:
        raise SystemExit(f"--motion-scale must be > 0 (1 = the default scenes), got {args.motion_scale}")
    paths = generate_video_dataset(args.out, num_videos=args.videos, num_val_videos=args.val_videos,
                                   num_frames=args.frames, annotate_every=args.annotate_every,
                                   image_size=_size(args.size), seed=args.seed, texture_dir=args.textures,
                                   save_flow=args.flow, progress=not args.quiet,
                                   motion_scale=args.motion_scale)
    return _print_paths("video (YouTube-VIS)", paths)


def _flow(args: argparse.Namespace) -> int:
    _check_size(args)
    paths = generate_flow_pairs(args.out, num_pairs=args.pairs, image_size=_size(args.size), seed=args.seed,
                                texture_dir=args.textures, val_fraction=args.val_fraction, progress=not args.quiet)
    return _print_paths("flow (FlyingChairs)", paths)


def register(subparsers) -> None:
    parser = subparsers.add_parser("synth", help="generate a synthetic benchmark dataset",
                                   description="Generate procedural, seeded benchmark data.")
    kinds = parser.add_subparsers(dest="kind", metavar="KIND", required=True)

    images = kinds.add_parser("images", help="COCO-format instance segmentation images")
    _common(images, [384])
    images.add_argument("--train", type=int, default=400, help="training images (default 400)")
    images.add_argument("--val", type=int, default=100, help="validation images (default 100)")
    images.add_argument("--format", choices=("jpg", "png"), default="jpg", help="image file format")
    images.set_defaults(func=_images)

    video = kinds.add_parser("video", help="YouTube-VIS-format videos (all frames, every k-th annotated)")
    _common(video, [288, 384])
    video.add_argument("--videos", type=int, default=8, help="training videos (default 8)")
    video.add_argument("--val-videos", type=int, default=2, help="validation videos (default 2)")
    video.add_argument("--frames", type=int, default=30, help="frames per video (default 30)")
    video.add_argument("--annotate-every", type=int, default=5, help="annotate every k-th frame (default 5)")
    video.add_argument("--flow", action="store_true", help="also write exact flow t -> t+1 (.flo)")
    video.add_argument("--motion-scale", type=float, default=1.0, metavar="S",
                       help="motion per frame relative to the default scenes (0.5: the same scenes at twice "
                            "the frame rate; default 1)")
    video.set_defaults(func=_video)

    flow = kinds.add_parser("flow", help="FlyingChairs-format optical flow pairs")
    _common(flow, [384, 512])
    flow.add_argument("--pairs", type=int, default=200, help="number of pairs (default 200)")
    flow.add_argument("--val-fraction", type=float, default=0.1, help="fraction marked val (default 0.1)")
    flow.set_defaults(func=_flow)
