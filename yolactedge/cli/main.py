"""``yolactedge`` command line: one subcommand per module in this folder.

Each subcommand module exposes ``register(subparsers)``, which adds its parser and sets
``func`` (a callable taking the parsed ``argparse.Namespace`` and returning an exit code).
"""
from __future__ import annotations

import argparse
import importlib
import sys

SUBCOMMAND_MODULES = (
    "demo", "predict", "checks", "synth", "datacheck", "train", "val", "train_video", "val_video", "export",
    "benchmark", "convert",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="yolactedge",
        description="Real-time instance segmentation (YolactEdge re-implementation).",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(f"yolactedge.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"yolactedge.cli.{name}":
                continue  # subcommand not part of this build
            raise
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130
    except _user_errors() as exc:  # bad input: a clear message, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _user_errors() -> tuple[type[BaseException], ...]:
    from yolactedge.checkpoints.io import CheckpointError
    from yolactedge.data.image_io import ImageReadError
    from yolactedge.data.sources import SourceError

    errors: list[type[BaseException]] = [CheckpointError, ImageReadError, SourceError]
    try:
        from yolactedge.data.errors import DatasetError

        errors.append(DatasetError)
    except ImportError:
        pass
    return tuple(errors)


if __name__ == "__main__":
    sys.exit(main())
