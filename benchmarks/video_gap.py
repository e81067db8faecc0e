"""The non-keyframe mAP gap from ``yolactedge val-video --json-out`` files: mean over keyframe distances
1..k-1 minus distance 0 (all keyframes), for mask and box AP. This is the "gap" of BENCHMARKS.md's video tables.

    python benchmarks/video_gap.py runs/flwc2k/val48.json runs/flwc2k/val48_m0.25.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def gaps(metrics: dict) -> dict[str, dict]:
    """{"segm"|"bbox": {"per_distance": [AP at 0, 1, ...], "mean_warped": ..., "gap": ...}}."""
    distances = sorted(int(k) for k in metrics if k.isdigit())
    if distances[:2] != [0, 1]:
        raise ValueError(f"need distance 0 and at least distance 1, got {distances}")
    out = {}
    for kind in ("segm", "bbox"):
        per = [float(metrics[str(d)][kind]["AP"]) for d in distances]
        mean = sum(per[1:]) / len(per[1:])
        out[kind] = {"per_distance": per, "mean_warped": mean, "gap": mean - per[0]}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", type=Path)
    for path in parser.parse_args().files:
        result = gaps(json.loads(path.read_text())["metrics"])
        print(path)
        for kind, r in result.items():
            per = " / ".join(f"{ap:.1f}" for ap in r["per_distance"][1:])
            print(f"  {kind}: all-keyframe {r['per_distance'][0]:.1f} | {per} | mean {r['mean_warped']:.2f} "
                  f"| gap {r['gap']:+.2f}")


if __name__ == "__main__":
    main()
