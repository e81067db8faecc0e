"""``yolactedge export --auto-precision``: measure mask mAP and latency of a bounded set of precision
mixes on a labelled validation set and keep the fastest one within an accuracy budget (mask AP
points below the FP32 engine, not below PyTorch: the export itself is the reference).

Candidates, in this order, at most ``max_candidates`` evaluated (each costs one mAP run):
fp32 (the reference), fp16 (TensorRT only: CPUs have no fast FP16, so CPU targets search FP32 vs
INT8 only), int8 everywhere, the paper's plan, then a greedy walk. The walk starts from the highest
near-lossless precision (fp32 on CPU, fp16 on TensorRT when it is within budget) and demotes groups
to INT8 one at a time in order of measured speed gain, keeping a demotion only while the plan stays
within budget. Why this direction rather than promoting groups from all-INT8: the per-group gain
comes from one cheap timing of the all-high and all-INT8 engines (per-component times), so each
group costs exactly one mAP run (promotion needs one run per remaining group per step, quadratic),
and the most valuable demotions are tried first, so a ``max_candidates`` cut drops the least
valuable ones. When demoting every group that gains is already within budget the walk is skipped.

Every candidate is composed from one pool of engines: each component exported once to ONNX and
calibrated once for INT8 (cached across runs, see ``quantize.calibration_key``), one runner per
(component, precision). Latency: per-frame network time (post-processing is the same code for every
plan), warm-up runs, then median of ``rounds`` runs with candidates interleaved round by round.
Video presets: image mAP sees only the keyframe path, so each candidate is also scored with every
image warped from itself (zero motion: the flow net and the transform still run in their
precision); a row's AP is the worse of the two paths, latency the mean over a keyframe cycle.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch
from torch import nn

from yolactedge.config.schema import ModelConfig
from yolactedge.deploy.backends.pipeline import ComponentPipeline
from yolactedge.deploy.components import GROUPS, component_specs
from yolactedge.deploy.export import ExportOptions, ExportResult, export_component_pool, export_model
from yolactedge.deploy.load import build_runners, resolve_engine_device, TARGET_BACKENDS
from yolactedge.deploy.metadata import read_manifest, write_manifest
from yolactedge.deploy.precision import PrecisionPlan
from yolactedge.model.outputs import YolactOutput

log = logging.getLogger(__name__)

DEFAULT_MAX_DROP = 1.0
DEFAULT_MAX_CANDIDATES = 8
DEFAULT_VAL_COUNT = 100
# Medians closer than this are within the noise of interleaved timings: the more accurate plan wins.
TIE_REL = 0.02
RESULT_FILE = "auto_precision.json"
_EPS = 1e-9  # float noise of "reference AP - AP" when comparing against the budget


@dataclass(frozen=True)
class Score:
    mask_ap: float
    box_ap: float
    paths: Mapping[str, Mapping[str, float]] | None = None  # video presets: AP per path


@dataclass(frozen=True)
class Candidate:
    name: str
    plan: PrecisionPlan
    score: Score
    note: str = ""


@dataclass
class PlanRow:
    name: str
    plan: PrecisionPlan
    groups: dict[str, str]
    mask_ap: float
    box_ap: float
    drop: float  # mask AP points below the FP32 engine
    latency_ms: float = math.nan
    speedup: float = math.nan  # FP32 latency / latency
    chosen: bool = False
    note: str = ""
    paths: Mapping[str, Mapping[str, float]] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {"name": self.name, "plan": str(self.plan), "groups": dict(self.groups),
               "mask_ap": self.mask_ap, "box_ap": self.box_ap, "drop": self.drop,
               "latency_ms": self.latency_ms, "speedup": self.speedup, "chosen": self.chosen, "note": self.note}
        return {**out, "paths": dict(self.paths)} if self.paths else out


@dataclass
class PrecisionSearchResult:
    rows: list[PlanRow]
    chosen: PlanRow
    max_drop: float
    val_images: int
    backend: str
    device: str
    groups: list[str] = field(default_factory=list)

    def table(self) -> str:
        head = (f"auto-precision on {self.backend} ({self.device}), {self.val_images} validation images, budget "
                f"{self.max_drop} mask AP points below fp32")
        cols = [f"{g:<9}" for g in self.groups]
        lines = [head, f"  {'plan':<10} {' '.join(cols)} {'mask AP':>7} {'box AP':>7} {'drop':>6} "
                       f"{'ms':>8} {'speed-up':>8}"]
        for r in self.rows:
            precisions = " ".join(f"{r.groups[g]:<9}" for g in self.groups)
            lines.append(f"{'*' if r.chosen else ' '} {r.name:<10} {precisions} {r.mask_ap:>7.2f} {r.box_ap:>7.2f} "
                         f"{r.drop:>6.2f} {r.latency_ms:>8.2f} {r.speedup:>7.2f}x")
        c = self.chosen
        lines.append(f"* chosen: {c.name} ({', '.join(f'{g}={c.groups[g]}' for g in self.groups)}): "
                     f"{c.speedup:.2f}x fp32, mask AP drop {c.drop:.2f}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"chosen": self.chosen.name, "plan": str(self.chosen.plan), "max_map_drop": self.max_drop,
                "val_images": self.val_images, "backend": self.backend, "device": self.device,
                "groups": list(self.groups), "tie_rel": TIE_REL, "rows": [r.to_dict() for r in self.rows]}


# -- pure parts (testable on fabricated numbers) ---------------------------------------------------------
def search_groups(config: ModelConfig) -> list[str]:
    """Precision groups the config has components for (flow and transform only for video presets)."""
    present = {spec.group for spec in component_specs(config).values()}
    return [g for g in GROUPS if g in present]


def select_plan(rows: Sequence[PlanRow], max_drop: float, tie_rel: float = TIE_REL) -> PlanRow:
    """The fastest row within ``max_drop``; rows within ``tie_rel`` of the fastest tie and the most
    accurate of them wins (then the faster, then the earlier row - fp32 comes first)."""
    within = [r for r in rows if r.drop <= max_drop + _EPS]
    if not within:
        raise ValueError(f"no plan within {max_drop} mask AP points (the fp32 reference row is missing)")
    fastest = min(r.latency_ms for r in within)
    ties = [r for r in within if r.latency_ms <= fastest * (1 + tie_rel)]
    return min(ties, key=lambda r: (r.drop, r.latency_ms))


def _uniform(precision: str) -> PrecisionPlan:
    return PrecisionPlan.from_mapping({g: precision for g in GROUPS})


def _canonical(plan: PrecisionPlan, groups: Sequence[str]) -> PrecisionPlan:
    """Groups the model lacks set to fp32, so plans that run the same engines compare equal."""
    return plan.replace(**{g: "fp32" for g in GROUPS if g not in groups})


def search_candidates(groups: Sequence[str], gains: Mapping[str, float], evaluate: Callable[[PrecisionPlan], Score],
                      *, max_drop: float, max_candidates: int, device_kind: str = "cpu",
                      progress: Callable[[str], None] = log.info) -> list[Candidate]:
    """The plans tried, in order, with their scores (module doc: which and why). ``gains``: ms per
    frame that demoting each group to INT8 saves; ``evaluate`` is called once per distinct plan."""
    tried: dict[PrecisionPlan, Candidate] = {}
    reference: Score | None = None

    def trial(name: str, plan: PrecisionPlan, note: str = "") -> Score | None:
        plan = _canonical(plan, groups)
        if plan in tried:
            return tried[plan].score
        if len(tried) >= max_candidates:
            return None
        start = time.perf_counter()
        score = evaluate(plan)
        tried[plan] = Candidate(name, plan, score, note)
        drop = reference.mask_ap - score.mask_ap if reference is not None else 0.0
        progress(f"  [{len(tried)}/{max_candidates}] {name:<10} mask AP {score.mask_ap:6.2f}  box AP "
                 f"{score.box_ap:6.2f}  drop {drop:5.2f}  ({time.perf_counter() - start:.1f}s)")
        return score

    reference = trial("fp32", _uniform("fp32"))

    def within(score: Score | None) -> bool:
        assert reference is not None
        return score is not None and reference.mask_ap - score.mask_ap <= max_drop + _EPS

    high = "fp16" if device_kind == "gpu" else "fp32"
    if high == "fp16":
        trial("fp16", _uniform("fp16"))
    trial("int8", _uniform("int8"))
    trial("paper", PrecisionPlan.parse("paper", device_kind))
    base = _uniform(high) if within(trial(high, _uniform(high))) else _uniform("fp32")
    order = sorted((g for g in groups if gains.get(g, 0.0) > 0), key=lambda g: -gains[g])
    if not order:
        return list(tried.values())
    if within(trial("greedy-all", base.replace(**{g: "int8" for g in order}), "every group that gains in INT8")):
        return list(tried.values())
    current = base
    for step, group in enumerate(order, 1):
        candidate = current.replace(**{group: "int8"})
        score = trial(f"greedy-{step}", candidate, f"demote {group} (gain {gains[group]:.2f} ms)")
        if score is None:
            break
        if within(score):
            current = candidate
    return list(tried.values())


def rows_for(candidates: Sequence[Candidate], latencies: Mapping[PrecisionPlan, float], groups: Sequence[str],
             max_drop: float, tie_rel: float = TIE_REL) -> list[PlanRow]:
    """Table rows (drop and speed-up against the first candidate, fp32) with the chosen one marked."""
    reference = candidates[0]
    ref_ms = latencies[reference.plan]
    rows = [PlanRow(c.name, c.plan, {g: c.plan.group(g) for g in groups}, c.score.mask_ap, c.score.box_ap,
                    reference.score.mask_ap - c.score.mask_ap, latencies[c.plan], ref_ms / latencies[c.plan],
                    note=c.note, paths=c.score.paths)
            for c in candidates]
    rows[0].drop = 0.0
    select_plan(rows, max_drop, tie_rel).chosen = True
    return rows


# -- measuring -------------------------------------------------------------------------------------------
class _WarpedFromItself:
    """Engine view returning the non-keyframe path with the same image as keyframe (zero motion)."""

    def __init__(self, engine: ComponentPipeline):
        self.engine = engine
        self.config = engine.config

    def infer(self, batch: torch.Tensor) -> YolactOutput:
        return self.engine.infer(batch, self.engine.infer(batch).state)


def _score(engine: ComponentPipeline, dataset: Any, count: int) -> Score:
    from yolactedge.train.validate import evaluate_model

    key = evaluate_model(engine, dataset, max_images=count, batch_size=1, show_progress=False)
    if not engine.is_video:
        return Score(key.mask_ap, key.box_ap)
    warped = evaluate_model(_WarpedFromItself(engine), dataset, max_images=count, batch_size=1, show_progress=False)
    paths = {"keyframe": {"mask_ap": key.mask_ap, "box_ap": key.box_ap},
             "non-keyframe": {"mask_ap": warped.mask_ap, "box_ap": warped.box_ap}}
    return Score(min(key.mask_ap, warped.mask_ap), min(key.box_ap, warped.box_ap), paths)


def _frame(engine: ComponentPipeline, image: torch.Tensor) -> tuple[float, dict[str, float]]:
    """(wall ms, ms per component) of one frame; video: weighted over a keyframe cycle."""
    start = time.perf_counter()
    out = engine.infer(image)
    key_ms, key_stages = (time.perf_counter() - start) * 1e3, engine.last_stage_times
    if not engine.is_video:
        return key_ms, key_stages
    k = max(1, engine.config.flow.keyframe_interval)
    start = time.perf_counter()
    engine.infer(image, out.state)
    nonkey_ms, nonkey_stages = (time.perf_counter() - start) * 1e3, engine.last_stage_times
    stages = {n: (key_stages.get(n, 0.0) + (k - 1) * nonkey_stages.get(n, 0.0)) / k
              for n in {*key_stages, *nonkey_stages}}
    return (key_ms + (k - 1) * nonkey_ms) / k, stages


def _interleaved(engines: Sequence[ComponentPipeline], image: torch.Tensor, warmup: int, rounds: int
                 ) -> list[tuple[float, dict[str, float]]]:
    """Median wall ms and per-component ms of each engine; engines take turns (rotating who goes
    first) so slow drifts of the machine hit every candidate alike."""
    walls: list[list[float]] = [[] for _ in engines]
    stages: list[list[dict[str, float]]] = [[] for _ in engines]
    with torch.inference_mode():
        for _ in range(warmup):
            for engine in engines:
                _frame(engine, image)
        for r in range(rounds):
            for i in [(r + j) % len(engines) for j in range(len(engines))]:
                wall, per = _frame(engines[i], image)
                walls[i].append(wall)
                stages[i].append(per)
    return [(statistics.median(w), {n: statistics.median(s[n] for s in runs) for n in runs[0]})
            for w, runs in zip(walls, stages)]


def _group_gains(high: ComponentPipeline, low: ComponentPipeline, image: torch.Tensor, warmup: int,
                 rounds: int) -> dict[str, float]:
    """ms per frame each group saves in INT8, from per-component times of the all-high / all-INT8 engines."""
    (_, high_ms), (_, low_ms) = _interleaved([high, low], image, warmup, rounds)
    gains: dict[str, float] = {}
    for name, spec in high.specs.items():
        gains[spec.group] = gains.get(spec.group, 0.0) + high_ms.get(name, 0.0) - low_ms.get(name, 0.0)
    return gains


def search_precision_plans(
    model: nn.Module, config: ModelConfig, dataset: Any, options: ExportOptions, workdir: str | os.PathLike, *,
    max_drop: float = DEFAULT_MAX_DROP, max_candidates: int = DEFAULT_MAX_CANDIDATES,
    val_count: int = DEFAULT_VAL_COUNT, warmup: int = 3, rounds: int = 9, progress: Callable[[str], None] = log.info,
) -> PrecisionSearchResult:
    """Try precision plans of ``model`` for ``options.target`` on ``dataset`` (a ``CocoDataset`` with
    the model's classes) and pick the fastest within ``max_drop`` mask AP points of the FP32 engine.
    ``workdir`` receives the component pool (ONNX files ``export_model(reuse_onnx=workdir)`` reuses)."""
    if max_drop < 0 or max_candidates < 2 or val_count < 1 or warmup < 0 or rounds < 1:
        raise ValueError("auto-precision needs max_map_drop >= 0, max_candidates >= 2, val_count >= 1, rounds >= 1")
    if options.batch != 1:
        raise ValueError("--auto-precision measures batch-1 engines; export with --batch 1")
    if options.calib is None:
        raise ValueError("--auto-precision needs INT8 calibration images (--calib, or a train split in --data)")
    from yolactedge.train.validate import category_ids_for

    category_ids_for(config.class_names, dataset)  # a class mismatch fails now, not after the pool export
    device_kind = "gpu" if options.target == "tensorrt" else "cpu"
    levels = ("fp32", "fp16", "int8") if device_kind == "gpu" else ("fp32", "int8")
    count = min(val_count, len(dataset))
    start = time.perf_counter()
    pool = export_component_pool(model, config, workdir, options, levels, progress)
    backend = TARGET_BACKENDS[options.target]
    device = resolve_engine_device(backend, options.device)
    runners = {p: build_runners(Path(workdir), {"components": entries}, config, backend, device, progress)
               for p, entries in pool.items()}
    progress(f"  pool: {len(pool['fp32'])} components x {', '.join(pool)} ({time.perf_counter() - start:.1f}s)")
    engines: dict[PrecisionPlan, ComponentPipeline] = {}

    def engine(plan: PrecisionPlan) -> ComponentPipeline:
        if plan not in engines:
            precisions = plan.components(list(component_specs(config)))
            engines[plan] = ComponentPipeline(
                {n: runners[p][n] for n, p in precisions.items()}, config, backend=backend,
                device=device if backend == "tensorrt" else "cpu", batch=1, requested=precisions)
        return engines[plan]

    from yolactedge.data.preprocess import preprocess_image

    image = preprocess_image(dataset.load_image(0), config.preprocess).unsqueeze(0)
    groups = search_groups(config)
    high = "fp16" if device_kind == "gpu" else "fp32"
    gains = _group_gains(engine(_uniform(high)), engine(_uniform("int8")), image, warmup, rounds)
    progress("  INT8 gain per group (ms/frame): " + ", ".join(f"{g} {gains.get(g, 0.0):.2f}" for g in groups))
    mix = "fp32 / fp16 / int8" if high == "fp16" else "fp32 / int8 (no fp16: CPUs have no fast FP16 kernels)"
    progress(f"  scoring up to {max_candidates} plans of {mix} on {count} images")
    candidates = search_candidates(groups, gains, lambda plan: _score(engine(plan), dataset, count),
                                   max_drop=max_drop, max_candidates=max_candidates, device_kind=device_kind,
                                   progress=progress)
    if candidates[0].score.mask_ap < 0:
        raise ValueError("the validation set has no mask ground truth: mask AP is undefined")
    timed = _interleaved([engine(c.plan) for c in candidates], image, warmup, rounds)
    latencies = {c.plan: ms for c, (ms, _) in zip(candidates, timed)}
    rows = rows_for(candidates, latencies, groups, max_drop)
    chosen = next(r for r in rows if r.chosen)
    return PrecisionSearchResult(rows, chosen, max_drop, count, backend, str(device), groups)


def export_auto_precision(
    model: nn.Module, config: ModelConfig, out_dir: str | os.PathLike, dataset: Any, options: ExportOptions, *,
    progress: Callable[[str], None] = log.info, **search: Any,
) -> tuple[ExportResult, PrecisionSearchResult]:
    """Search (``search_precision_plans``, keyword arguments passed on), export the chosen plan with the
    usual parity check (reusing the pool's ONNX files and calibration), and record the table in
    ``manifest.json`` (``auto_precision``) and ``auto_precision.json``."""
    out = Path(out_dir)
    if options.calib is None:
        progress(f"  no --calib: calibrating on the validation images ({dataset.image_dir}); they are also scored")
        options = dataclasses.replace(options, calib=str(dataset.image_dir))
    if options.parity_source is None:
        options = dataclasses.replace(options, parity_source=str(dataset.image_dir))
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.auto-precision-", dir=out.parent) as pool:
        result = search_precision_plans(model, config, dataset, options, pool, progress=progress, **search)
        progress(result.table())
        final = dataclasses.replace(options, precision=result.chosen.plan, reuse_onnx=pool)
        exported = export_model(model, config, out, final, progress=progress)
    record = {**result.to_dict(), "file": RESULT_FILE}
    (out / RESULT_FILE).write_text(json.dumps(record, indent=2))
    manifest = read_manifest(out)
    manifest["auto_precision"] = record
    write_manifest(out, manifest)
    exported.manifest = read_manifest(out)
    return exported, result
