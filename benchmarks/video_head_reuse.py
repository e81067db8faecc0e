"""Choosing the head-reuse threshold from measurements: how much each FPN level changes between a
keyframe and its non-keyframes, and what reusing the keyframe's head outputs costs in mAP.

    python benchmarks/video_head_reuse.py --model runs/video_recipe/joint/last.pt \\
        --data runs/video_recipe/data_video [--thresholds 0.1 0.2 0.3 0.5] [--keyframe-interval 5]

Head reuse (``Yolact.forward(..., reuse_heads=T)``) skips the prediction head on P4..P7 when the
level's relative mean absolute change since the keyframe is at most T. The script first collects
that change per level and keyframe distance on the val videos (quantiles), then evaluates the
original scheme with prototype reuse off and head reuse at each threshold with
``yolactedge.eval.video_eval.evaluate_video`` (the ``val-video`` numbers), counting how many
level-heads were actually skipped.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine  # noqa: E402

from yolactedge.cli.val_video import load_video_model  # noqa: E402
from yolactedge.data.ytvis import YTVISDataset  # noqa: E402
from yolactedge.eval.video_eval import FrameRunner, annotated_frames, evaluate_video  # noqa: E402


def level_changes(model: torch.nn.Module, dataset: YTVISDataset, k: int) -> dict[int, list[list[float]]]:
    """distance -> per annotated frame, the relative change of P4..P7 against the keyframe's."""
    cfg = model.config
    runner = FrameRunner(model, dataset, cfg, next(model.parameters()).device, False, None)
    changes: dict[int, list[list[float]]] = {d: [] for d in range(1, k)}
    captured: list[torch.Tensor] = []
    hook = model.fpn_phase_2.register_forward_hook(lambda _m, _i, out: captured.append(out))
    try:
        with torch.inference_mode():
            for frames in annotated_frames(dataset):
                runner.start_video(frames[0].video_index)
                for frame in frames:
                    for distance in range(1, k):
                        key = frame.number - distance
                        if key < 0:
                            continue
                        levels = runner.keyframe(key).state.levels
                        captured.clear()
                        runner.non_keyframe(frame.number, key)
                        current = captured[-1]
                        changes[distance].append([
                            float((cur - ref).abs().mean() / ref.abs().mean().clamp(min=1e-6))
                            for cur, ref in zip(current[1:], levels[1:])])
    finally:
        hook.remove()
    return changes


class HeadCounter:
    """Counts prediction-head calls per level size, to report the fraction of heads skipped."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.calls = 0
        self.handle = model.prediction_layers[0].register_forward_hook(self._count)

    def _count(self, *_: object) -> None:
        self.calls += 1

    def close(self) -> None:
        self.handle.remove()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--data", required=True, help="YouTube-VIS root with val/annotations.json and val/JPEGImages")
    p.add_argument("--thresholds", type=float, nargs="+", default=[0.1, 0.2, 0.3, 0.5])
    p.add_argument("--keyframe-interval", type=int, default=5)
    p.add_argument("--json-out", default=None)
    args = p.parse_args(argv)
    model = load_video_model(args.model, None, "cpu")
    root = Path(args.data)
    dataset = YTVISDataset(root / "val" / "JPEGImages", root / "val" / "annotations.json")
    k = args.keyframe_interval
    print(machine())

    changes = level_changes(model, dataset, k)
    print("\n| relative change of P4..P7 since the keyframe (median / 90th percentile) | " +
          " | ".join(f"P{i + 4}" for i in range(4)) + " |")
    print("|---|" + "---|" * 4)
    quantiles = {}
    for distance, rows in changes.items():
        values = np.array(rows)
        med, p90 = np.median(values, 0), np.percentile(values, 90, 0)
        quantiles[distance] = {"median": med.tolist(), "p90": p90.tolist()}
        print(f"| distance {distance} | " + " | ".join(f"{m:.3f} / {q:.3f}" for m, q in zip(med, p90)) + " |")

    results = {}
    for threshold in [None, *args.thresholds]:
        counter = HeadCounter(model)
        try:
            result = evaluate_video(model, dataset, keyframe_interval=k, reuse_heads=threshold)
        finally:
            counter.close()
        runs = result.timings["non-keyframe"].calls
        levels = len(model.config.anchors.scales)  # P3..P7; P3 is always recomputed
        non_key_calls = counter.calls - result.timings["keyframe"].calls * levels
        skipped = (runs * levels - non_key_calls) / max(1, runs * (levels - 1))
        per_distance = [float(result[d]["segm"]["AP"]) for d in result.distances]
        results["off" if threshold is None else f"{threshold:g}"] = {
            "mask_per_distance": per_distance,
            "box_per_distance": [float(result[d]["bbox"]["AP"]) for d in result.distances],
            "heads_skipped_fraction": skipped}
    print(f"\n| head reuse threshold | mask AP by distance 0..{k - 1} | mean 1..{k - 1} | box AP mean 1..{k - 1} "
          "| heads skipped on non-keyframes |")
    print("|---|---|---|---|---|")
    for name, r in results.items():
        mask, box = r["mask_per_distance"], r["box_per_distance"]
        print(f"| {name} | {' / '.join(f'{v:.1f}' for v in mask)} | {np.mean(mask[1:]):.1f} | "
              f"{np.mean(box[1:]):.1f} | {100 * r['heads_skipped_fraction']:.0f} % |")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"machine": machine(), "changes": quantiles, "results": results},
                                                  indent=1))
        print(f"wrote {args.json_out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
