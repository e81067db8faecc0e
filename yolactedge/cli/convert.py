"""``yolactedge convert``: an original YOLACT/YolactEdge state dict -> a self-describing checkpoint."""
from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "convert", help="convert an original YOLACT / YolactEdge .pth into a yolactedge checkpoint (config inside)"
    )
    p.add_argument("weights", help="original checkpoint, e.g. yolact_base_54_800000.pth")
    p.add_argument("--config", required=True, help="preset it was trained with, e.g. yolact_edge_config")
    p.add_argument("--out", required=True, help="output .pt path")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from yolactedge.checkpoints import (
        convert_yolact_state_dict, load_original_state_dict, load_weights_file, save_checkpoint,
    )
    from yolactedge.checkpoints.original import is_yolact_v1_layout
    from yolactedge.config.presets import get_config
    from yolactedge.model import build_model

    config = get_config(args.config)
    state = load_weights_file(args.weights)
    renamed = 0
    if is_yolact_v1_layout(state):
        converted = convert_yolact_state_dict(state, config.fpn.num_downsample)
        renamed = sum(1 for k in state if k.startswith("fpn."))
        print(f"YOLACT v1 layout: {renamed} fpn.* keys renamed to fpn_phase_1/fpn_phase_2, "
              f"{len(state) - len(converted)} unused keys dropped")
    model = build_model(config)
    load_original_state_dict(model, state, num_downsample=config.fpn.num_downsample)
    save_checkpoint(args.out, model, config, metadata={"converted_from": str(args.weights)})
    print(f"wrote {args.out} ({config.name}, {config.num_classes - 1} classes); load it with YolactEdge.load('{args.out}')")
    return 0
