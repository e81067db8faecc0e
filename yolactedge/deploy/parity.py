"""Parity of exported engines against PyTorch FP32, on real inputs, before anything is saved.

Per component: each engine gets exactly the inputs the FP32 reference produced for it, and its
outputs are compared with the reference's (max |diff| and ||diff|| / ||ref||, the relative error the
reference parity data uses). For the whole pipeline: raw outputs, then detections through the
shared post-processing (matched box IoU and mask IoU), keyframes and - for video presets -
non-keyframes warped from each side's own keyframe state.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import torch

from yolactedge.config.schema import ModelConfig
from yolactedge.deploy.backends.base import ComponentRunner
from yolactedge.deploy.backends.pipeline import ComponentPipeline, PipelineTrace
from yolactedge.deploy.components import ComponentSpec
from yolactedge.model.outputs import YolactOutput
from yolactedge.ops.boxes import jaccard
from yolactedge.ops.detect import detect_one, postprocess

FP32_TOLERANCE = 1e-4  # relative (||diff|| / ||ref||), per tensor


class ParityError(RuntimeError):
    """An FP32 engine deviates from PyTorch FP32 beyond tolerance: it is not saved."""


@dataclass(frozen=True)
class Deviation:
    max_abs: float
    rel: float

    @staticmethod
    def between(ref: torch.Tensor, out: torch.Tensor) -> "Deviation":
        ref = ref.detach().cpu().double()
        out = out.detach().cpu().double()
        if ref.shape != out.shape:
            raise ValueError(f"shape mismatch: reference {tuple(ref.shape)} vs engine {tuple(out.shape)}")
        diff = out - ref
        norm = float(ref.norm())
        return Deviation(float(diff.abs().max()) if diff.numel() else 0.0,
                         float(diff.norm()) / norm if norm > 0 else float(diff.norm()))

    def worse(self, other: "Deviation | None") -> "Deviation":
        return self if other is None or self.rel >= other.rel else other


@dataclass
class ComponentParity:
    component: str
    requested: str
    precision: str  # effective
    samples: int
    outputs: dict[str, Deviation] = field(default_factory=dict)

    @property
    def worst(self) -> tuple[str, Deviation]:
        return max(self.outputs.items(), key=lambda kv: kv[1].rel)


def component_parity(runner: ComponentRunner, spec: ComponentSpec, traces: Iterable[PipelineTrace],
                     requested: str) -> ComponentParity:
    result = ComponentParity(spec.name, requested, runner.precision, 0)
    for trace in traces:
        if spec.name not in trace.ran:
            continue
        outputs = runner({n: trace.tensors[n] for n in spec.inputs})
        for name in spec.outputs:
            result.outputs[name] = Deviation.between(trace.tensors[name], outputs[name]).worse(result.outputs.get(name))
        result.samples += 1
    return result


# -- detections ---------------------------------------------------------------------------------------------
@dataclass
class DetectionAgreement:
    reference: int = 0
    engine: int = 0
    matched: int = 0
    box_iou_sum: float = 0.0
    mask_iou_sum: float = 0.0

    def add(self, other: "DetectionAgreement") -> None:
        for f in ("reference", "engine", "matched", "box_iou_sum", "mask_iou_sum"):
            setattr(self, f, getattr(self, f) + getattr(other, f))

    @property
    def agreement(self) -> float:
        """Matched detections over the larger of the two counts (1.0 when both found nothing)."""
        larger = max(self.reference, self.engine)
        return self.matched / larger if larger else 1.0

    @property
    def box_iou(self) -> float:
        return self.box_iou_sum / self.matched if self.matched else float("nan")

    @property
    def mask_iou(self) -> float:
        return self.mask_iou_sum / self.matched if self.matched else float("nan")


def detection_agreement(ref: YolactOutput, out: YolactOutput, config: ModelConfig, index: int = 0,
                        min_iou: float = 0.5) -> DetectionAgreement:
    """Greedy match by reference score: same class, best box IoU >= ``min_iou``."""
    post = config.postprocess
    size = tuple(config.input_size)

    def run(o: YolactOutput):
        dets = detect_one(o.loc[index].cpu(), o.conf[index].cpu(), o.mask[index].cpu(), o.priors.cpu(), post, size)
        return dets, postprocess(dets, o.proto[index].cpu(), size, post)

    (d_ref, i_ref), (d_out, i_out) = run(ref), run(out)
    result = DetectionAgreement(len(d_ref), len(d_out))
    if not len(d_ref) or not len(d_out):
        return result
    ious = jaccard(d_ref.boxes, d_out.boxes)
    same = d_ref.classes[:, None] == d_out.classes[None, :]
    ious = torch.where(same, ious, torch.full_like(ious, -1.0))
    taken = torch.zeros(len(d_out), dtype=torch.bool)
    for r in range(len(d_ref)):
        cand = ious[r].masked_fill(taken, -1.0)
        best = int(cand.argmax())
        if float(cand[best]) < min_iou:
            continue
        taken[best] = True
        m_ref, m_out = i_ref.masks[r], i_out.masks[best]
        union = float((m_ref | m_out).sum())
        result.matched += 1
        result.box_iou_sum += float(cand[best])
        result.mask_iou_sum += float((m_ref & m_out).sum()) / union if union else 1.0
    return result


@dataclass
class PipelineParity:
    kind: str  # "keyframe" or "non-keyframe"
    frames: int = 0
    outputs: dict[str, Deviation] = field(default_factory=dict)
    detections: DetectionAgreement = field(default_factory=DetectionAgreement)

    def add(self, ref: YolactOutput, out: YolactOutput, config: ModelConfig) -> None:
        for name in ("loc", "conf", "mask", "proto"):
            dev = Deviation.between(getattr(ref, name), getattr(out, name))
            self.outputs[name] = dev.worse(self.outputs.get(name))
        self.detections.add(detection_agreement(ref, out, config))
        self.frames += 1


def pipeline_outputs(pipeline: ComponentPipeline, batches: Sequence[torch.Tensor], keyframe_interval: int = 2,
                     dtype: torch.dtype = torch.float32) -> list[tuple[str, YolactOutput]]:
    """(kind, outputs) per batch: keyframes every ``keyframe_interval`` frames (video presets), the
    frames between them warped from the pipeline's own last keyframe state."""
    results, state = [], None
    with torch.inference_mode():
        for i, batch in enumerate(batches):
            batch = batch.to(dtype)
            if pipeline.is_video and state is not None and i % keyframe_interval != 0:
                results.append(("non-keyframe", pipeline.infer(batch, state)))
                continue
            out = pipeline.infer(batch)
            state = out.state
            results.append(("keyframe", out))
    return results


def pipeline_parity(engine: ComponentPipeline, reference: ComponentPipeline, batches: Sequence[torch.Tensor],
                    keyframe_interval: int = 2) -> list[PipelineParity]:
    """Keyframe parity on every batch; for video, frames between keyframes run the non-keyframe path
    on both sides, each from its own keyframe state (so state handling is checked too)."""
    config = reference.config
    parts = {"keyframe": PipelineParity("keyframe"), "non-keyframe": PipelineParity("non-keyframe")}
    refs = pipeline_outputs(reference, batches, keyframe_interval)
    outs = pipeline_outputs(engine, batches, keyframe_interval)
    for (kind, ref), (_, out) in zip(refs, outs):
        parts[kind].add(ref, out, config)
    return [p for p in parts.values() if p.frames]


# -- report -------------------------------------------------------------------------------------------------
@dataclass
class Failure:
    """One FP32 tensor beyond tolerance; ``floor``/``error`` filled in by the float64 recheck."""

    where: str
    output: str
    rel: float
    pipeline: bool = False
    floor: float | None = None  # PyTorch FP32 vs float64
    error: float | None = None  # engine vs float64

    def __str__(self) -> str:
        text = f"{self.where}.{self.output}: rel {self.rel:.2e}"
        if self.floor is not None:
            text += f" (vs float64: engine {self.error:.2e}, PyTorch FP32 {self.floor:.2e})"
        return text


@dataclass
class ParityReport:
    backend: str
    components: list[ComponentParity] = field(default_factory=list)
    pipeline: list[PipelineParity] = field(default_factory=list)

    def fp32_failures(self, tolerance: float = FP32_TOLERANCE) -> list["Failure"]:
        """FP32 components, and (when everything ran FP32) the pipeline's raw outputs, beyond ``tolerance``."""
        bad = [Failure(c.component, name, dev.rel) for c in self.components if c.precision == "fp32"
               for name, dev in c.outputs.items() if not dev.rel <= tolerance]
        if self.components and all(c.precision == "fp32" for c in self.components):
            bad += [Failure(f"pipeline {p.kind}", name, dev.rel, pipeline=True)
                    for p in self.pipeline for name, dev in p.outputs.items() if not dev.rel <= tolerance]
        return bad

    def table(self, tolerance: float = FP32_TOLERANCE) -> str:
        lines = [f"Parity vs PyTorch FP32 ({self.backend})",
                 f"{'component':<17} {'precision':<15} {'n':>3}  {'worst output':<13} {'max |diff|':>10} {'rel':>9}  note"]
        for c in self.components:
            name, dev = c.worst if c.outputs else ("-", Deviation(0.0, 0.0))
            prec = c.precision if c.precision == c.requested else f"{c.precision} (asked {c.requested})"
            note = "ok" if c.precision == "fp32" and dev.rel <= tolerance else (
                f"> {tolerance:.0e}" if c.precision == "fp32" else "reduced precision")
            lines.append(f"{c.component:<17} {prec:<15} {c.samples:>3}  {name:<13} {dev.max_abs:>10.3e} "
                         f"{dev.rel:>9.2e}  {note}")
        for p in self.pipeline:
            outs = "  ".join(f"{k} {v.rel:.1e}" for k, v in p.outputs.items())
            d = p.detections
            lines.append(
                f"pipeline {p.kind:<12} frames {p.frames}: rel {outs}; detections {d.reference} ref / {d.engine} engine, "
                f"matched {d.agreement:.1%}, box IoU {d.box_iou:.3f}, mask IoU {d.mask_iou:.3f}"
            )
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            "backend": self.backend,
            "components": {c.component: {"requested": c.requested, "precision": c.precision, "samples": c.samples,
                                         **{n: {"max_abs": d.max_abs, "rel": d.rel} for n, d in c.outputs.items()}}
                           for c in self.components},
            "pipeline": {p.kind: {"frames": p.frames, **{n: d.rel for n, d in p.outputs.items()},
                                  "detections_reference": p.detections.reference,
                                  "detections_engine": p.detections.engine,
                                  "agreement": p.detections.agreement, "box_iou": _finite(p.detections.box_iou),
                                  "mask_iou": _finite(p.detections.mask_iou)}
                         for p in self.pipeline},
        }


def float64_recheck(failures: Sequence[Failure], model: torch.nn.Module, engine: ComponentPipeline,
                    reference: ComponentPipeline, traces: Sequence[PipelineTrace], batches: Sequence[torch.Tensor],
                    tolerance: float = FP32_TOLERANCE, factor: float = 2.0) -> list[Failure]:
    """Tell float32 rounding noise from real deviations, for what failed the plain check.

    Deep networks amplify float32 summation-order differences: on a ResNet-101 with realistic
    BatchNorm statistics PyTorch FP32 itself was 1.5e-4 (C5) / 9e-5 (raw outputs) away from a float64
    evaluation, and PyTorch with 1 vs 2 threads differed by 9e-5. So a tensor passes if the engine is
    no further from float64 than ``factor`` x PyTorch FP32's own distance (and not beyond
    ``tolerance`` when PyTorch is exact). Returns what still fails, with both distances filled in.
    """
    import copy

    from yolactedge.deploy.backends.pytorch import torch_runners

    model64 = copy.deepcopy(model).double()
    config = reference.config
    exact = ComponentPipeline(torch_runners(model64, config, dtype=torch.float64), config, backend="pytorch-fp64",
                              batch=None)
    remaining = []
    for failure in failures:
        if failure.pipeline:
            kind = failure.where.removeprefix("pipeline ")
            refs = [o for k, o in pipeline_outputs(reference, batches) if k == kind]
            outs = [o for k, o in pipeline_outputs(engine, batches) if k == kind]
            exacts = [o for k, o in pipeline_outputs(exact, batches, dtype=torch.float64) if k == kind]
            pairs = [(getattr(r, failure.output), getattr(o, failure.output), getattr(e, failure.output))
                     for r, o, e in zip(refs, outs, exacts)]
        else:
            spec = engine.specs[failure.where]
            pairs = []
            for trace in traces:
                if spec.name in trace.ran:
                    inputs = {n: trace.tensors[n] for n in spec.inputs}
                    pairs.append((trace.tensors[failure.output], engine.runners[spec.name](inputs)[failure.output],
                                  exact.runners[spec.name](inputs)[failure.output]))
        failure.floor = max(Deviation.between(e, r).rel for r, _, e in pairs)
        failure.error = max(Deviation.between(e, o).rel for _, o, e in pairs)
        if failure.error > max(tolerance, factor * failure.floor):
            remaining.append(failure)
    return remaining


def _finite(value: float) -> float | None:
    """JSON has no NaN: 'no matched detections' becomes null."""
    return None if value != value else value


def check_parity(engine: ComponentPipeline, reference: ComponentPipeline, traces: Sequence[PipelineTrace],
                 batches: Sequence[torch.Tensor], requested: Mapping[str, str]) -> ParityReport:
    report = ParityReport(engine.backend)
    for name, spec in engine.specs.items():
        report.components.append(component_parity(engine.runners[name], spec, traces, requested.get(name, "fp32")))
    report.pipeline = pipeline_parity(engine, reference, batches)
    return report
