"""Cost of a non-keyframe vs a keyframe (PyTorch CPU, eager, FP32), side by side in one run.

Schemes: the original (warp P4/P5, ProtoNet + heads on every frame), + prototype reuse (warped
keyframe prototypes), + head reuse on unchanged levels. Weights are random: cost does not depend
on them (head reuse is measured with a threshold that reuses P4..P7, its best case).

Runtimes: ``optimized`` is what ``YolactEdge`` runs on CPU (the inference copy: BatchNorm folded,
channels_last); ``loaded`` is the model as built (NCHW, BatchNorm modules), as in a training loop.
Every scheme of every runtime is interleaved in one loop; ratios are taken within a runtime.

    python benchmarks/video_cost.py [--size 550] [--rounds 11] [--configs yolact_edge_vid_config ...]
                                    [--spa-depths 1 3]

``--spa-depths``: the SPA depths to time (1: the original's; ours: more, ``flow.spa_depth``), each a
copy of the config interleaved in the same loop. SPA runs on non-keyframes only, so each depth's
ratio is taken against its own copy's keyframe. ``--fresh-blocks C4 C5``: one more copy with the
fresh top levels (``flow.fresh_blocks``, ours; ``--fresh-levels``), timed the same way; ``--fresh-lite W16 W32``:
one with the small fixed-width fresh top (``flow.fresh_lite``; ``--fresh-lite-input c3``: the kind that reads C3 alone).
"""
from __future__ import annotations

import argparse
import json

import torch

from _common import interleaved, machine
from yolactedge import build_model
from yolactedge.config import get_config
from yolactedge.config.schema import FRESH_LEVELS, FRESH_LITE_INPUTS
from yolactedge.deploy.engine import PyTorchEngine


RUNTIMES = ("optimized", "loaded")


def schemes(engine: PyTorchEngine, key_x: torch.Tensor, cur_x: torch.Tensor, runtime: str) -> dict:
    state = engine.infer(key_x).state
    return {
        (runtime, "keyframe"): lambda: engine.infer(key_x),
        (runtime, "non-keyframe (original)"): lambda: engine.infer(cur_x, keyframe_state=state),
        (runtime, "+ prototype reuse"): lambda: engine.infer(cur_x, keyframe_state=state, reuse_prototypes=True),
        (runtime, "+ prototype and head reuse"): lambda: engine.infer(cur_x, keyframe_state=state,
                                                                      reuse_prototypes=True, reuse_heads=float("inf")),
    }


def variants(spa_depths: list[int], fresh_blocks: tuple[int, int] | None,
             fresh_levels: str = "P4P5", fresh_lite: tuple[int, int] | None = None,
             fresh_lite_input: str = "c3+warp") -> list[tuple[str, dict]]:
    """(label suffix, flow changes) of each config copy to time."""
    out = [("" if list(spa_depths) == [1] else f", SPA {depth}", {"spa_depth": depth}) for depth in spa_depths]
    if fresh_blocks is not None:
        out.append((f", fresh {fresh_levels} {tuple(fresh_blocks)}",
                    {"fresh_blocks": tuple(fresh_blocks), "fresh_levels": fresh_levels}))
    if fresh_lite is not None:
        reads = "" if fresh_lite_input == "c3+warp" else f" reads {fresh_lite_input}"
        out.append((f", fresh lite {fresh_levels} {tuple(fresh_lite)}{reads}",
                    {"fresh_lite": tuple(fresh_lite), "fresh_levels": fresh_levels,
                     "fresh_lite_input": fresh_lite_input}))
    return out


def measure(config: str, size: int, rounds: int, runtimes: list[str], spa_depths: list[int] = (1,),
            fresh_blocks: tuple[int, int] | None = None, fresh_levels: str = "P4P5",
            fresh_lite: tuple[int, int] | None = None, fresh_lite_input: str = "c3+warp") -> dict[tuple[str, str], float]:
    """The network as ``YolactEdge`` runs it: ``PyTorchEngine`` with and without its inference copy,
    for each variant of the config."""
    key_x, cur_x = torch.randn(1, 3, size, size), torch.randn(1, 3, size, size)
    fns = {}
    for suffix, flow in variants(list(spa_depths), fresh_blocks, fresh_levels, fresh_lite, fresh_lite_input):
        cfg = get_config(config).replace(flow=flow)
        model = build_model(cfg).eval()
        for runtime in runtimes:
            engine = PyTorchEngine(model, cfg, torch.device("cpu"), optimize=runtime == "optimized")
            fns.update(schemes(engine, key_x, cur_x, runtime + suffix))
    return interleaved(fns, rounds=rounds)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=550)
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--configs", nargs="+", default=["yolact_edge_vid_config", "yolact_edge_vid_resnet50_config"])
    parser.add_argument("--runtimes", nargs="+", choices=RUNTIMES, default=list(RUNTIMES))
    parser.add_argument("--spa-depths", type=int, nargs="+", default=[1],
                        help="SPA depths to time side by side (1: the original's)")
    parser.add_argument("--fresh-blocks", type=int, nargs=2, default=None, metavar=("C4", "C5"),
                        help="also time a copy with the fresh top levels from this many C4/C5-stage blocks")
    parser.add_argument("--fresh-lite", type=int, nargs=2, default=None, metavar=("W16", "W32"),
                        help="also time a copy with the small fixed-width fresh top of these widths")
    parser.add_argument("--fresh-lite-input", choices=FRESH_LITE_INPUTS, default="c3+warp",
                        help="what the fixed-width top reads (c3: C3 alone, not the warped M4/M5)")
    parser.add_argument("--fresh-levels", choices=FRESH_LEVELS, default="P4P5")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(min(torch.get_num_threads(), 2))
    print(f"machine: {machine()}; input {args.size}x{args.size}, batch 1, median of {args.rounds} interleaved rounds")
    report = {}
    for config in args.configs:
        times = measure(config, args.size, args.rounds, args.runtimes, args.spa_depths, args.fresh_blocks,
                        args.fresh_levels, args.fresh_lite, args.fresh_lite_input)
        print(f"\n{config}")
        for (runtime, name), t in times.items():
            key = times[(runtime, "keyframe")]
            print(f"  {runtime:<28} {name:<30} {t * 1e3:8.1f} ms   {t / key:5.2f}x keyframe")
        report[config] = {f"{runtime}: {name}": t for (runtime, name), t in times.items()}
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"machine": machine(), "size": args.size, "times_s": report}, handle, indent=1)


if __name__ == "__main__":
    main()
