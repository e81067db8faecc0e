"""The engines a benchmark compares: the PyTorch FP32 component pipeline and exported folders run
by ONNX Runtime, OpenVINO or TensorRT, one per (backend, precision plan).

Exports go through ``export_model`` (parity-checked like ``yolactedge export``). ONNX Runtime and
OpenVINO read the same component files, so one CPU export per plan serves both; TensorRT needs
its own (symmetric INT8, FP16 in ``paper``). A kept work folder reuses an export whose model,
plan, calibration and exporter are unchanged (R-50 exports take minutes on a small CPU).
"""
from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch import nn

from yolactedge.config.schema import ModelConfig
from yolactedge.bench.inputs import BenchmarkError
from yolactedge.deploy.precision import PrecisionPlan

log = logging.getLogger(__name__)

BENCH_BACKENDS = ("pytorch", "onnxruntime", "openvino", "tensorrt")


@dataclass
class EngineRow:
    """One line of the table: an engine and how it was made."""

    backend: str
    plan: str
    engine: Any  # yolactedge.deploy.engine.Engine
    device: str
    export: dict[str, Any] | None = None  # folder, reused, seconds

    @property
    def label(self) -> str:
        return f"{self.backend}/{self.plan}"


def parse_backends(value: str | Sequence[str]) -> list[str]:
    """``"pytorch,onnxruntime"`` or a list -> validated names (``ort``/``ov``/``trt`` accepted)."""
    aliases = {"ort": "onnxruntime", "onnx": "onnxruntime", "ov": "openvino", "trt": "tensorrt", "torch": "pytorch"}
    items = value.split(",") if isinstance(value, str) else list(value)
    names = []
    for item in (i.strip().lower() for i in items):
        if not item:
            continue
        name = aliases.get(item, item)
        if name not in BENCH_BACKENDS:
            raise BenchmarkError(f"unknown backend {item!r}; choose from {', '.join(BENCH_BACKENDS)}")
        if name not in names:
            names.append(name)
    if not names:
        raise BenchmarkError(f"no backend given; choose from {', '.join(BENCH_BACKENDS)}")
    return names


def split_plans(value: str | Sequence[str]) -> list[str]:
    """``"fp32,paper,int8"`` -> three plans. A ``group=precision`` item belongs to the plan before it
    (``"paper,proto=fp16,int8"`` -> ``paper,proto=fp16`` and ``int8``); ``;`` separates plans
    explicitly (``"fp32;backbone=int8,fpn=fp16"``). Each plan is validated."""
    texts = [value] if isinstance(value, str) else list(value)
    plans: list[str] = []
    for text in texts:
        if ";" in text:
            plans.extend(p.strip() for p in text.split(";") if p.strip())
            continue
        current: list[str] = []
        for item in (i.strip() for i in text.split(",") if i.strip()):
            if "=" not in item and current:
                plans.append(",".join(current))
                current = []
            current.append(item)
        if current:
            plans.append(",".join(current))
    if not plans:
        raise BenchmarkError("no precision plan given; e.g. fp32,int8,paper")
    for plan in plans:
        PrecisionPlan.parse(plan)  # raises PrecisionPlanError naming the bad item
    return list(dict.fromkeys(plans))


def row_specs(backends: Sequence[str], plans: Sequence[str]) -> list[tuple[str, str]]:
    """(backend, plan) in table order: plans outer, backends inner. PyTorch runs FP32 only: it
    gives one ``fp32`` row, placed where it first appears (the usual reference, first)."""
    rows: list[tuple[str, str]] = []
    for plan in plans:
        for backend in backends:
            if backend == "pytorch":
                if ("pytorch", "fp32") not in rows:
                    rows.append(("pytorch", "fp32"))
            else:
                rows.append((backend, plan))
    return rows


def export_target(backend: str, backends: Sequence[str]) -> str:
    if backend == "tensorrt":
        return "tensorrt"
    return "openvino" if "openvino" in backends else "onnx"


def _slug(plan: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", plan.lower()).strip("-")


def needs_calibration(plans: Sequence[str], config: ModelConfig) -> bool:
    from yolactedge.deploy.components import component_specs

    names = list(component_specs(config))
    return any(PrecisionPlan.parse(p).needs_calibration(names) for p in plans)


def ensure_export(model: nn.Module, config: ModelConfig, work: Path, target: str, plan: str, *, digest: str,
                  calib: Any, calib_count: int, exporter: str, device: str,
                  say: Callable[[str], None], verbose: bool) -> dict[str, Any]:
    """Export (or reuse) ``work/<target>-<plan>``; returns folder, reused flag and seconds. Reused when
    model weights, plan, exporter and calibration source path and count are unchanged."""
    from yolactedge.deploy.export import export_model

    kind = "gpu" if target == "tensorrt" else "cpu"
    canonical = str(PrecisionPlan.parse(plan, device_kind=kind))
    int8 = needs_calibration([plan], config)
    key = {"model_hash": digest, "plan": canonical, "exporter": exporter,
           "calib": str(calib) if int8 else None, "calib_count": calib_count if int8 else None}
    # An OpenVINO export also holds every component's ONNX file: ONNX Runtime can reuse it.
    for candidate in (target, "openvino") if target == "onnx" else (target,):
        folder = work / f"{candidate}-{_slug(plan)}"
        sidecar = work / f"{folder.name}.benchmark.json"
        if (folder / "manifest.json").is_file() and sidecar.is_file() and \
                json.loads(sidecar.read_text()) == {**key, "target": candidate}:
            say(f"export {target} [{plan}]: reusing {folder}")
            return {"folder": str(folder), "reused": True, "seconds": 0.0}
    folder = work / f"{target}-{_slug(plan)}"
    sidecar = work / f"{folder.name}.benchmark.json"
    key["target"] = target
    sidecar.unlink(missing_ok=True)  # a failed export must not look reusable next time
    calibration = f" (INT8 calibration: {calib_count} images of {calib})" if int8 else ""
    say(f"export {target} [{plan}] -> {folder}{calibration}")
    start = time.perf_counter()
    # Q/DQ: the one INT8 artifact ONNX Runtime and OpenVINO both run, so their rows compare one export.
    export_model(model, config, folder, target=target, precision=plan, calib=calib if int8 else None,
                 calib_count=calib_count, parity_count=1, exporter=exporter, device=device, int8_method="qdq",
                 progress=say if verbose else log.info)
    seconds = time.perf_counter() - start
    sidecar.write_text(json.dumps(key, indent=1))
    say(f"  exported in {seconds:.1f}s")
    return {"folder": str(folder), "reused": False, "seconds": seconds}


def torch_pipeline(model: nn.Module, config: ModelConfig, device: torch.device) -> Any:
    """PyTorch eager FP32 as the same component pipeline the engines use (per-component times)."""
    from yolactedge.deploy.backends.pipeline import ComponentPipeline
    from yolactedge.deploy.backends.pytorch import torch_runners

    return ComponentPipeline(torch_runners(model, config, device), config, backend="pytorch", device=device,
                             batch=None)


def build_rows(model: nn.Module, config: ModelConfig, specs: Sequence[tuple[str, str]], *, work: Path, calib: Any,
               calib_count: int, device: str, exporter: str, say: Callable[[str], None],
               verbose: bool = False) -> list[EngineRow]:
    """Export what the rows need, then load every engine (exports first: they move the model to CPU)."""
    from yolactedge.runtime.device import resolve_device
    from yolactedge.deploy.load import load_engine, resolve_engine_device
    from yolactedge.deploy.metadata import model_hash

    backends = [b for b, _ in specs]
    exports: dict[tuple[str, str], dict[str, Any]] = {}
    digest = model_hash(model, config) if any(b != "pytorch" for b in backends) else ""
    for backend, plan in specs:
        if backend == "pytorch":
            continue
        target = export_target(backend, backends)
        if (target, plan) not in exports:
            exports[target, plan] = ensure_export(model, config, work, target, plan, digest=digest, calib=calib,
                                                  calib_count=calib_count, exporter=exporter, device=device,
                                                  say=say, verbose=verbose)
    rows = []
    for backend, plan in specs:
        if backend == "pytorch":
            torch_device = resolve_device(device)
            rows.append(EngineRow(backend, plan, torch_pipeline(model, config, torch_device), str(torch_device)))
            continue
        info = exports[export_target(backend, backends), plan]
        engine = load_engine(info["folder"], device=device, backend=backend, progress=say)
        label = str(resolve_engine_device(backend, device)).lower()
        rows.append(EngineRow(backend, plan, engine, label, info))
    return rows
