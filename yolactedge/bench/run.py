"""``run_benchmark``: end-to-end speed of several backends and precision plans in one run.

Every engine runs the same frames through the same ``YolactEdge.predict_frame`` path as
``predict`` (decode -> preprocess -> engine components -> NMS -> masks -> drawing -> encode for
videos), in interleaved rounds so the ratios stay comparable on a noisy machine. Per-component
times come from the component pipeline's own timers (PyTorch runs as the same pipeline of eager
modules). mAP, when a dataset is given, is the ``yolactedge val`` code path on each engine.

    >>> from yolactedge.bench.run import BenchmarkOptions, load_benchmark_model, run_benchmark
    >>> model, config, weights = load_benchmark_model(None, "yolact_edge_resnet50_config", random_weights=True)
    >>> report = run_benchmark(model, config, BenchmarkOptions(backends=["pytorch", "onnxruntime"],
    ...                                                        precisions=["fp32", "int8"]), weights=weights)
    >>> print(report.table()); report.write_json("bench.json")
"""
from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch import nn

from yolactedge.config.schema import ModelConfig
from yolactedge.bench.engines import (
    EngineRow, build_rows, needs_calibration, parse_backends, row_specs, split_plans,
)
from yolactedge.bench.inputs import BenchInput, BenchmarkError, open_input, write_calibration_images
from yolactedge.bench.report import BenchmarkReport, RowResult, summarize
from yolactedge.bench.timing import time_rows
from yolactedge.deploy.export import apply_overrides, with_input_size

log = logging.getLogger(__name__)

__all__ = ["BenchmarkError", "BenchmarkOptions", "BenchmarkReport", "RowResult", "load_benchmark_model",
           "run_benchmark"]


@dataclass
class BenchmarkOptions:
    """What ``yolactedge benchmark`` can set (the CLI maps its flags one to one)."""

    backends: str | Sequence[str] = ("pytorch", "onnxruntime")
    precisions: str | Sequence[str] = ("fp32",)
    source: Any = None  # None: generated images; a path (images, folder, glob, video) or BGR arrays
    frames: int = 8  # frames per pass (per engine and round)
    rounds: int = 3
    warmup: int = 2  # untimed frames per engine first (video presets: at least one keyframe interval)
    keyframe_interval: int | None = None  # video presets on video input; default: the config's
    conf: float = 0.25
    draw: bool = True
    encode: bool | None = None  # None: encode the drawn frames when the source is a video
    device: str = "auto"
    calib: Any = None  # INT8 calibration source; default: the benchmark's files, else generated images
    calib_count: int = 16
    work_dir: str | os.PathLike | None = None  # exports kept and reused here; None: a temporary folder
    data: tuple[str | os.PathLike, str | os.PathLike] | None = None  # (images, annotations) -> mAP
    map_images: int | None = None
    synthetic_size: tuple[int, int] = (480, 640)
    seed: int = 0
    exporter: str = "dynamo"
    count_flops: bool = True
    progress: bool = True
    verbose: bool = False  # export progress in full
    backend_list: list[str] = field(default_factory=list, init=False)
    plan_list: list[str] = field(default_factory=list, init=False)

    def validate(self) -> None:
        self.backend_list = parse_backends(self.backends)
        self.plan_list = split_plans(self.precisions)
        for name in ("frames", "rounds", "calib_count"):
            if getattr(self, name) < 1:
                raise BenchmarkError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.warmup < 0:
            raise BenchmarkError(f"warmup must be >= 0, got {self.warmup}")
        if self.keyframe_interval is not None and self.keyframe_interval < 1:
            raise BenchmarkError(f"keyframe interval must be >= 1, got {self.keyframe_interval}")
        if self.map_images is not None and self.map_images < 1:
            raise BenchmarkError(f"map_images must be >= 1, got {self.map_images}")
        if self.data is not None:
            images, ann = (Path(p) for p in self.data)
            if not ann.is_file():
                raise BenchmarkError(f"annotation file {ann} does not exist")
            if not images.is_dir():
                raise BenchmarkError(f"image folder {images} does not exist")


def load_benchmark_model(model: str | os.PathLike | None, config: str | None, random_weights: bool = False,
                         imgsz: Sequence[int] | None = None, seed: int = 0) -> tuple[nn.Module, ModelConfig, str]:
    """(model, config, weights description) from a checkpoint, a preset (random weights only: speed
    needs no training) or the bundled demo model. ``imgsz``: H or (H, W) overriding the input size."""
    from yolactedge.assets import default_model_path
    from yolactedge.checkpoints import load_model_weights, read_checkpoint
    from yolactedge.config.presets import get_config
    from yolactedge.model import build_model

    checkpoint = None
    if model is None and config is not None:
        if not random_weights:
            raise BenchmarkError(f"--config {config} without --model: add --random-weights for a speed-only run "
                                 "(detections and mAP are then meaningless) or pass --model CKPT")
        try:
            cfg = get_config(config)
        except KeyError as exc:
            raise BenchmarkError(str(exc.args[0])) from None
        weights = "random weights"
    else:
        path = model or default_model_path()
        if path is None:
            raise BenchmarkError("no --model given and no bundled demo model in this installation; pass --model CKPT "
                                 "or --config PRESET --random-weights")
        if not Path(path).is_file():
            raise BenchmarkError(f"model file {path} does not exist")
        checkpoint = read_checkpoint(path, config)
        cfg = checkpoint.config
        weights = "random weights" if random_weights else str(path)
    cfg = _with_size(cfg, imgsz)
    torch.manual_seed(seed)
    net = build_model(cfg)
    if checkpoint is not None and not random_weights:
        load_model_weights(net, checkpoint)
    return net.eval(), cfg, weights


def _with_size(config: ModelConfig, imgsz: Sequence[int] | None) -> ModelConfig:
    try:
        return with_input_size(config, imgsz)
    except ValueError as exc:
        raise BenchmarkError(str(exc)) from None


def run_benchmark(model: nn.Module, config: ModelConfig, options: BenchmarkOptions | None = None, *,
                  weights: str = "given model", say: Callable[[str], None] = log.info,
                  **overrides: Any) -> BenchmarkReport:
    """Export what the requested (backend, plan) rows need, time them end to end in interleaved
    rounds, add mAP when ``data`` is given. Raises ``BenchmarkError`` / ``PrecisionPlanError``
    (bad request, before any export), ``CalibrationError``, ``ParityError`` (an FP32 export deviates)."""
    options = apply_overrides(options or BenchmarkOptions(), overrides, "benchmark")
    options.validate()
    inputs = open_input(options.source, options.frames, options.synthetic_size, options.seed)
    dataset = _dataset(options.data, config)
    specs = row_specs(options.backend_list, options.plan_list)
    notes = _notes(options, config, inputs)
    with tempfile.TemporaryDirectory(prefix="yolactedge-bench-") as tmp:
        work = Path(options.work_dir) if options.work_dir else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        calib = _calibration(options, config, inputs, work)
        rows = build_rows(model, config, specs, work=work, calib=calib, calib_count=options.calib_count,
                          device=options.device, exporter=options.exporter, say=say, verbose=options.verbose)
        encode = inputs.is_video if options.encode is None else options.encode
        passes = time_rows(rows, config, inputs, rounds=options.rounds, warmup=_warmup(options, config, inputs),
                           interval=_interval(options, config), conf=options.conf, draw=options.draw,
                           encode_dir=work / "encoded" if encode else None, show_progress=options.progress, say=say)
        macs = None
        if options.count_flops:
            from yolactedge.bench.flops import frame_macs

            macs = frame_macs(model, config)
        results = [summarize(r.backend, r.plan, r.device, dict(r.engine.precision), passes[i], macs, r.export)
                   for i, r in enumerate(rows)]
        if dataset is not None:
            _add_metrics(rows, results, config, dataset, options, say)
    return BenchmarkReport(results, _model_info(config, weights, macs), inputs.summary(),
                           _settings(options, inputs, config), _machine(), notes).finish()


# -- settings ------------------------------------------------------------------------------------------------
def _interval(options: BenchmarkOptions, config: ModelConfig) -> int:
    return options.keyframe_interval or (config.flow.keyframe_interval if config.flow else 1)


def _warmup(options: BenchmarkOptions, config: ModelConfig, inputs: BenchInput) -> int:
    """Warm-up frames; on video, video presets warm the non-keyframe path too."""
    if config.is_video and inputs.is_video and options.warmup:
        return max(options.warmup, _interval(options, config) + 1)
    return options.warmup


# -- inputs, calibration, accuracy -------------------------------------------------------------------------
def _dataset(data: tuple[Any, Any] | None, config: ModelConfig) -> Any:
    """The mAP dataset, checked against the model's classes before minutes of exports."""
    if data is None:
        return None
    from yolactedge.data.coco import CocoDataset
    from yolactedge.train.validate import category_ids_for

    dataset = CocoDataset(*data)
    try:
        category_ids_for(config.class_names, dataset)
    except ValueError as exc:
        raise BenchmarkError(f"--data {data[1]}: {exc}") from None
    return dataset


def _calibration(options: BenchmarkOptions, config: ModelConfig, inputs: BenchInput, work: Path) -> Any:
    """INT8 plans calibrate on --calib, else the benchmark's own files, else generated images."""
    if not needs_calibration(options.plan_list, config) or not any(b != "pytorch" for b in options.backend_list):
        return None
    if options.calib is not None:
        return options.calib
    if inputs.calibration_source() is not None:
        return inputs.calibration_source()
    return write_calibration_images(work / "calib", options.calib_count, options.synthetic_size, options.seed)


def _add_metrics(rows: list[EngineRow], results: list[RowResult], config: ModelConfig, dataset: Any,
                 options: BenchmarkOptions, say: Callable[[str], None]) -> None:
    """COCO box/mask AP of each engine through the ``yolactedge val`` code path."""
    from yolactedge.api.predictor import YolactEdge
    from yolactedge.train.validate import evaluate_model

    for row, result in zip(rows, results):
        say(f"mAP {row.label} on {dataset.ann_file}")
        outcome = evaluate_model(YolactEdge(row.engine, config), dataset, max_images=options.map_images,
                                 batch_size=1, show_progress=options.progress)
        result.metrics = {**outcome.summary(), "images": float(outcome.num_images)}


# -- report metadata -----------------------------------------------------------------------------------------
def _notes(options: BenchmarkOptions, config: ModelConfig, inputs: BenchInput) -> list[str]:
    notes = []
    if "pytorch" in options.backend_list and any(p != "fp32" for p in options.plan_list):
        notes.append("pytorch runs FP32 only (one row); the other plans apply to the exported engines")
    if options.keyframe_interval and not config.is_video:
        notes.append(f"--keyframe-interval ignored: {config.name} is not a video preset (no flow components)")
    elif config.is_video and not inputs.is_video:
        notes.append("still images: every frame is a keyframe (keyframe intervals apply to video input)")
    return notes


def _model_info(config: ModelConfig, weights: str, macs: dict[str, dict[str, int]] | None) -> dict[str, Any]:
    info: dict[str, Any] = {"config": config.name, "input_size": list(config.input_size), "weights": weights,
                            "video": config.is_video}
    if macs:
        info["keyframe_gflop"] = 2 * sum(macs["key"].values()) / 1e9
        info["macs"] = macs
        if "nonkey" in macs:
            info["nonkeyframe_gflop"] = 2 * sum(macs["nonkey"].values()) / 1e9
    return info


def _settings(options: BenchmarkOptions, inputs: BenchInput, config: ModelConfig) -> dict[str, Any]:
    encode = inputs.is_video if options.encode is None else options.encode
    stages = (["decode"] if inputs.from_files else []) + ["preprocess", "engine", "NMS", "masks"]
    stages += (["draw"] if options.draw else []) + (["encode"] if encode else [])
    return {"backends": options.backend_list, "precisions": options.plan_list, "rounds": options.rounds,
            "warmup": _warmup(options, config, inputs), "frames": inputs.count, "conf": options.conf,
            "draw": options.draw, "encode": encode, "device": options.device, "stages": stages,
            "keyframe_interval": _interval(options, config) if config.is_video and inputs.is_video else None,
            "calib_count": options.calib_count}


def _machine() -> dict[str, Any]:
    from yolactedge.deploy.hardware import cpu_summary
    from yolactedge.deploy.metadata import versions

    cpu = cpu_summary()
    info = {"cpu": cpu["name"], "physical_cores": cpu["physical_cores"], "torch_threads": torch.get_num_threads(),
            "cpu_features": {k: v for k, v in cpu.items() if isinstance(v, bool)}, "versions": versions()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return info
