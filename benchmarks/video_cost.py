"""Cost of a non-keyframe vs a keyframe (PyTorch CPU, eager, FP32), side by side in one run.

Schemes: the original (warp P4/P5, ProtoNet + heads on every frame), + prototype reuse (warped
keyframe prototypes), + head reuse on unchanged levels. Weights are random: cost does not depend
on them (head reuse is measured with a threshold that reuses P4..P7, its best case).

Runtimes: ``optimized`` is what ``YolactEdge`` runs on CPU (the inference copy: BatchNorm folded,
channels_last); ``loaded`` is the model as built (NCHW, BatchNorm modules), as in a training loop.
Every scheme of every runtime is interleaved in one loop; ratios are taken within a runtime.

    python benchmarks/video_cost.py [--size 550] [--rounds 11] [--configs yolact_edge_vid_config ...]
"""
from __future__ import annotations

import argparse
import json

import torch

from _common import interleaved, machine
from yolactedge import build_model
from yolactedge.config import get_config
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


def measure(config: str, size: int, rounds: int, runtimes: list[str]) -> dict[tuple[str, str], float]:
    """The network as ``YolactEdge`` runs it: ``PyTorchEngine`` with and without its inference copy."""
    cfg = get_config(config)
    model = build_model(cfg).eval()
    key_x, cur_x = torch.randn(1, 3, size, size), torch.randn(1, 3, size, size)
    fns = {}
    for runtime in runtimes:
        engine = PyTorchEngine(model, cfg, torch.device("cpu"), optimize=runtime == "optimized")
        fns.update(schemes(engine, key_x, cur_x, runtime))
    return interleaved(fns, rounds=rounds)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=550)
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--configs", nargs="+", default=["yolact_edge_vid_config", "yolact_edge_vid_resnet50_config"])
    parser.add_argument("--runtimes", nargs="+", choices=RUNTIMES, default=list(RUNTIMES))
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(min(torch.get_num_threads(), 2))
    print(f"machine: {machine()}; input {args.size}x{args.size}, batch 1, median of {args.rounds} interleaved rounds")
    report = {}
    for config in args.configs:
        times = measure(config, args.size, args.rounds, args.runtimes)
        print(f"\n{config}")
        for (runtime, name), t in times.items():
            key = times[(runtime, "keyframe")]
            print(f"  {runtime:<10} {name:<30} {t * 1e3:8.1f} ms   {t / key:5.2f}x keyframe")
        report[config] = {f"{runtime}: {name}": t for (runtime, name), t in times.items()}
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"machine": machine(), "size": args.size, "times_s": report}, handle, indent=1)


if __name__ == "__main__":
    main()
