"""Arguments and helpers shared by subcommands."""
from __future__ import annotations

import argparse

from yolactedge.assets import default_model_path


def add_model_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=None,
                        help="checkpoint (.pt/.pth); default: the bundled demo model trained on synthetic shapes")
    parser.add_argument("--config", default=None,
                        help="preset name for original plain state dicts, e.g. yolact_edge_config")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 ...")
    parser.add_argument("--no-optimize", action="store_true",
                        help="run the checkpoint's modules as loaded (default: an inference copy with BatchNorm "
                             "folded and, on CPU, channels_last; same results, faster)")


def load_predictor(args: argparse.Namespace):
    from yolactedge.api.predictor import YolactEdge

    path = args.model or default_model_path()
    if path is None:
        raise SystemExit("no --model given and no bundled demo model in this installation; pass --model CKPT")
    return YolactEdge.load(path, config=args.config, device=args.device,
                           optimize=not getattr(args, "no_optimize", False))
