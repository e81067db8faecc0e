"""Benchmark results: per-pass records -> medians, the printed tables and the JSON file.

Every pass (one engine over the frames of one round) gives the mean milliseconds per frame of each
stage; a row reports the median over rounds of those means, so stage times add up to the
end-to-end time (components that run on keyframes only are amortised over all frames).
"""
from __future__ import annotations

import json
import os
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# Stages in pipeline order; "inference" holds the engine components (listed under it).
TOP_STAGES = ("decode", "preprocess", "inference", "nms", "masks", "other", "draw", "encode")


@dataclass
class PassRecord:
    """One engine over one round's frames: summed milliseconds per stage and frame type."""

    frames: int = 0
    keyframes: int = 0
    total_ms: float = 0.0
    key_total_ms: float = 0.0
    stages: dict[str, float] = field(default_factory=dict)
    components: dict[str, float] = field(default_factory=dict)

    def add(self, total_ms: float, keyframe: bool, stages: dict[str, float], components: dict[str, float]) -> None:
        self.frames += 1
        self.keyframes += int(keyframe)
        self.total_ms += total_ms
        self.key_total_ms += total_ms if keyframe else 0.0
        for target, values in ((self.stages, stages), (self.components, components)):
            for name, ms in values.items():
                target[name] = target.get(name, 0.0) + ms

    def mean(self) -> tuple[float, dict[str, float], dict[str, float]]:
        n = max(self.frames, 1)
        return (self.total_ms / n, {k: v / n for k, v in self.stages.items()},
                {k: v / n for k, v in self.components.items()})


@dataclass
class RowResult:
    backend: str
    plan: str
    device: str
    precision: dict[str, str]
    ms_per_frame: float
    fps: float
    ratio: float  # ms per frame / first row's
    stages_ms: dict[str, float]
    components_ms: dict[str, float]
    rounds_ms: list[float]
    frames_per_pass: int
    keyframes_per_pass: int
    keyframe_ms: float | None = None
    nonkeyframe_ms: float | None = None
    gflops_per_s: float | None = None  # conv/linear work / inference time
    metrics: dict[str, float] | None = None  # box/mask AP in percent (-1: undefined) with a dataset
    export: dict[str, Any] | None = None

    @property
    def label(self) -> str:
        return f"{self.backend}/{self.plan}"


def summarize(backend: str, plan: str, device: str, precision: dict[str, str], passes: list[PassRecord],
              macs: dict[str, dict[str, int]] | None, export: dict[str, Any] | None) -> RowResult:
    """Medians over rounds of the per-pass means (ratio filled in by ``finish``)."""
    means = [p.mean() for p in passes]
    totals = [m[0] for m in means]
    stage_names = list(dict.fromkeys(k for m in means for k in m[1]))
    comp_names = list(dict.fromkeys(k for m in means for k in m[2]))
    stages = {k: statistics.median(m[1].get(k, 0.0) for m in means) for k in stage_names}
    components = {k: statistics.median(m[2].get(k, 0.0) for m in means) for k in comp_names}
    total = statistics.median(totals)
    last = passes[-1]
    key_ms = nonkey_ms = None
    if any(p.keyframes < p.frames for p in passes):
        key_ms = statistics.median(p.key_total_ms / max(p.keyframes, 1) for p in passes)
        nonkey_ms = statistics.median((p.total_ms - p.key_total_ms) / max(p.frames - p.keyframes, 1) for p in passes)
    gflops = None
    if macs and stages.get("inference"):
        key = sum(macs["key"].values())
        nonkey = sum(macs.get("nonkey", macs["key"]).values())
        per_frame = (last.keyframes * key + (last.frames - last.keyframes) * nonkey) / max(last.frames, 1)
        gflops = 2 * per_frame / (stages["inference"] * 1e-3) / 1e9
    return RowResult(backend, plan, device, precision, total, 1e3 / total if total > 0 else float("inf"), 1.0,
                     stages, components, totals, last.frames, last.keyframes, key_ms, nonkey_ms, gflops,
                     export=export)


@dataclass
class BenchmarkReport:
    rows: list[RowResult]
    model: dict[str, Any]
    input: dict[str, Any]
    settings: dict[str, Any]
    machine: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    def finish(self) -> "BenchmarkReport":
        """Ratios against the first row."""
        if self.rows:
            base = self.rows[0].ms_per_frame
            for row in self.rows:
                row.ratio = row.ms_per_frame / base if base > 0 else float("nan")
        return self

    def row(self, backend: str, plan: str) -> RowResult:
        for row in self.rows:
            if row.backend == backend and row.plan == plan:
                return row
        raise KeyError(f"no row {backend}/{plan}")

    # -- output ----------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "input": self.input, "settings": self.settings, "machine": self.machine,
                "notes": self.notes, "rows": [{**asdict(r), "label": r.label} for r in self.rows]}

    def write_json(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=1, default=str))
        os.replace(tmp, path)
        return path

    def header(self) -> str:
        m, i, s, h = self.model, self.input, self.settings, self.machine
        lines = [f"model: {m['config']} {m['input_size'][0]}x{m['input_size'][1]} ({m['weights']})"]
        if m.get("keyframe_gflop"):
            flop = f"keyframe {m['keyframe_gflop']:.1f} GFLOP"
            if m.get("nonkeyframe_gflop"):
                flop += f", non-keyframe {m['nonkeyframe_gflop']:.1f} GFLOP"
            lines[0] += f"; {flop} (2 x conv/linear MACs)"
        video = f", keyframe interval {s['keyframe_interval']}" if s.get("keyframe_interval") else ""
        lines.append(f"input: {i['description']}{video}")
        lines.append(f"timing: {s['warmup']} warm-up frames, then {s['rounds']} interleaved rounds; median of the "
                     "per-round mean ms/frame (end to end: " + " -> ".join(s["stages"]) + ")")
        versions = ", ".join(f"{k} {v}" for k, v in h.get("versions", {}).items() if k != "yolactedge")
        lines.append(f"machine: {h['cpu']}, {h['physical_cores']} physical cores, torch threads {h['torch_threads']}; "
                     f"{versions}")
        return "\n".join(lines)

    def summary_table(self) -> str:
        video = any(r.keyframe_ms is not None for r in self.rows)
        metrics = any(r.metrics for r in self.rows)
        head = f"{'backend':<12} {'plan':<18} {'device':<7} {'ms/frame':>9} {'FPS':>7} {'vs first':>8}"
        head += f" {'key ms':>8} {'nonkey ms':>9}" if video else ""
        head += f" {'GFLOP/s':>8}"
        head += f" {'box AP':>7} {'mask AP':>7}" if metrics else ""
        lines = [head]
        for r in self.rows:
            line = (f"{r.backend:<12} {r.plan:<18} {r.device:<7} {r.ms_per_frame:>9.1f} {r.fps:>7.2f} "
                    f"{r.ratio:>8.2f}")
            if video:
                line += f" {_num(r.keyframe_ms, 8)} {_num(r.nonkeyframe_ms, 9)}"
            line += f" {_num(r.gflops_per_s, 8)}"
            if metrics:
                line += f" {_num(_ap(r, 'box_AP'), 7, 1)} {_num(_ap(r, 'mask_AP'), 7, 1)}"
            lines.append(line)
        return "\n".join(lines)

    def stage_table(self) -> str:
        """Stages as rows, engines as columns (ms per frame)."""
        labels = [r.label for r in self.rows]
        width = max([10, *(len(lab) for lab in labels)]) + 1
        lines = [f"{'stage (ms/frame)':<20}" + "".join(f"{lab:>{width}}" for lab in labels)]
        stages = list(dict.fromkeys([*TOP_STAGES, *(k for r in self.rows for k in r.stages_ms)]))
        for stage in stages:
            if not any(stage in r.stages_ms for r in self.rows):
                continue
            lines.append(f"{stage:<20}" + "".join(_num(r.stages_ms.get(stage), width) for r in self.rows))
            if stage == "inference":
                comps = list(dict.fromkeys(k for r in self.rows for k in r.components_ms))
                for comp in comps:
                    lines.append(f"{'  ' + comp:<20}" + "".join(_num(r.components_ms.get(comp), width)
                                                              for r in self.rows))
        lines.append(f"{'total':<20}" + "".join(_num(r.ms_per_frame, width) for r in self.rows))
        return "\n".join(lines)

    def table(self) -> str:
        parts = [self.header(), "", self.summary_table(), "", self.stage_table()]
        parts += [f"note: {n}" for n in self.notes]
        return "\n".join(parts)


def _ap(row: RowResult, key: str) -> float | None:
    """AP in percent as ``yolactedge val`` prints it; None when undefined (-1)."""
    if not row.metrics or row.metrics.get(key, -1.0) < 0:
        return None
    return row.metrics[key]


def _num(value: float | None, width: int, digits: int = 1) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.{digits}f}"
