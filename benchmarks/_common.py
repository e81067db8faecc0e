"""Shared helpers for benchmarks: machine description, interleaved timing, video mAP per keyframe distance."""
from __future__ import annotations

import os
import platform
import statistics
import time
from typing import Callable

import torch


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads"


def interleaved(fns: dict[str, Callable[[], object]], rounds: int = 5, warmup: int = 1) -> dict[str, float]:
    """Median seconds per call, measuring the candidates in turn each round (robust to a noisy machine)."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in times.items()}


def distance_aps(summary, k: int) -> dict[str, dict[str, object]]:
    """Mask and box AP of a video evaluation (``evaluate_video``'s result, indexed by distance and
    "all"): per distance 0..k-1, mean over the warped distances 1..k-1, that minus distance 0, pooled."""
    out: dict[str, dict[str, object]] = {}
    for kind, label in (("segm", "mask"), ("bbox", "box")):
        per = [float(summary[d][kind]["AP"]) for d in range(k)]
        mean = statistics.fmean(per[1:])
        out[label] = {"per_distance": per, "mean_warped": mean, "drop": mean - per[0],
                      "pooled": float(summary["all"][kind]["AP"])}
    return out
