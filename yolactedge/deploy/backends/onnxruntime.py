"""ONNX Runtime: CPU (full graph optimisation, one thread per physical core), CUDA and TensorRT EPs.

INT8 components are QDQ files: the CPU EP runs them with integer kernels (fast with unsigned
activations and signed weights), the TensorRT EP builds INT8 engines from them. FP16 is a build
flag only the TensorRT EP honours; the CPU and CUDA EPs run an FP16 request in FP32 (reported as
such by ``precision``).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Mapping

import torch

from yolactedge.deploy.backends.base import to_numpy, to_torch
from yolactedge.deploy.components import ComponentSpec
from yolactedge.deploy.hardware import physical_cores

log = logging.getLogger(__name__)


def _import_ort():
    try:
        import onnxruntime
    except ImportError as exc:
        raise ImportError("onnxruntime is not installed: pip install 'yolactedge[deploy]' (or onnxruntime-gpu)") from exc
    return onnxruntime


def session_options(threads: int | None = None, spinning: bool = False):
    """Full graph optimisation; intra-op threads = physical cores (more threads than cores is slower).

    No spinning by default: a pipeline has one session per component, and idle workers of the
    previous session busy-waiting steal the cores from the next one. Measured on 2 cores, R-50 at
    550: INT8 pipeline 588 -> 336 ms, FP32 1539 -> 1253 ms per frame with spinning off."""
    ort = _import_ort()
    options = ort.SessionOptions()
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads or physical_cores()
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    return options


def providers_for(device: torch.device, precision: str, cache_dir: Path | None) -> list:
    """TensorRT EP > CUDA EP > CPU on a CUDA device when this onnxruntime build has them."""
    available = _import_ort().get_available_providers()
    chosen: list = []
    if device.type == "cuda":
        index = device.index or 0
        if "TensorrtExecutionProvider" in available:
            trt = {"device_id": index, "trt_fp16_enable": precision in ("fp16", "int8"),
                   "trt_int8_enable": precision == "int8"}
            if cache_dir is not None:
                trt.update(trt_engine_cache_enable=True, trt_engine_cache_path=str(cache_dir))
            chosen.append(("TensorrtExecutionProvider", trt))
        if "CUDAExecutionProvider" in available:
            chosen.append(("CUDAExecutionProvider", {"device_id": index}))
        if not chosen:
            log.warning("device %s requested but this onnxruntime has no CUDA/TensorRT provider (pip install "
                        "onnxruntime-gpu); running on CPU", device)
    chosen.append("CPUExecutionProvider")
    return chosen


def effective_precision(requested: str, providers: list) -> str:
    first = providers[0] if isinstance(providers[0], str) else providers[0][0]
    if requested == "fp16" and first != "TensorrtExecutionProvider":
        return "fp32"  # no FP16 kernels selected without an FP16 graph; the FP32 file runs
    if requested == "int8" and first == "CUDAExecutionProvider":
        return "fp32+qdq"  # the CUDA EP dequantizes and computes in FP32 (same numbers, no speed-up)
    return requested


class OrtComponentRunner:
    """One ``InferenceSession`` for one component file."""

    def __init__(self, spec: ComponentSpec, path: str | os.PathLike, precision: str, *,
                 device: torch.device | str = "cpu", threads: int | None = None, cache_dir: Path | None = None,
                 spinning: bool = False):
        ort = _import_ort()
        self.name = spec.name
        self.spec = spec
        device = torch.device(device)
        providers = providers_for(device, precision, cache_dir)
        self.session = ort.InferenceSession(str(path), session_options(threads, spinning), providers=providers)
        self.providers = self.session.get_providers()
        self.precision = effective_precision(precision, providers)
        if self.precision != precision:
            log.info("%s: %s requested, running %s on %s", spec.name, precision, self.precision, self.providers[0])
        self._outputs = list(spec.outputs)

    def __call__(self, inputs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        feed = {name: to_numpy(inputs[name]) for name in self.spec.inputs}
        values = self.session.run(self._outputs, feed)
        return {name: to_torch(v) for name, v in zip(self._outputs, values)}
