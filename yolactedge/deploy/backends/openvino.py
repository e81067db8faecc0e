"""OpenVINO (CPU by default): reads the component ONNX files directly, or OpenVINO IR (.xml) when
the export wrote one (``--format openvino``, e.g. NNCF-quantized INT8).

The inference precision is always set explicitly: on CPUs with AVX512-BF16 OpenVINO's default is
bf16, which moved FP32 bilinear resizes by ~1e-2 in our measurements - so FP32 means f32 here. An
FP16 request uses the CPU's native half type (bf16 or f16) when it has one, else runs FP32.
"""
from __future__ import annotations

import logging
import os
from typing import Any, Mapping

import numpy as np
import torch

from yolactedge.deploy.backends.base import to_numpy, to_torch
from yolactedge.deploy.components import ComponentSpec
from yolactedge.deploy.hardware import physical_cores

log = logging.getLogger(__name__)


def import_openvino():
    try:
        import openvino
    except ImportError as exc:
        raise ImportError("openvino is not installed: pip install 'yolactedge[deploy]' (or openvino)") from exc
    return openvino


def openvino_device(device: torch.device | str | None) -> str:
    """torch-style names (cpu, auto) -> OpenVINO's (CPU); OpenVINO names (GPU, NPU, AUTO:...) pass through."""
    text = "cpu" if device is None else str(device)
    if text in ("cpu", "auto") or text.startswith("cpu"):
        return "CPU"
    if text.startswith("cuda"):
        raise ValueError("OpenVINO cannot run on CUDA devices; use backend='onnxruntime' or 'tensorrt' for NVIDIA GPUs")
    return text.upper() if text.islower() else text


def half_type(core: Any, device: str) -> str | None:
    """The device's fast half-precision type for OpenVINO ("bf16", "f16") or None."""
    try:
        caps = set(core.get_property(device, "OPTIMIZATION_CAPABILITIES"))
    except Exception:  # noqa: BLE001 - a device without the property has no known half type
        return None
    if device != "CPU" and "FP16" in caps:
        return "f16"
    if "BF16" in caps:
        return "bf16"
    if "FP16" in caps:
        return "f16"
    return None


def compile_config(core: Any, device: str, precision: str, threads: int | None) -> tuple[dict[str, Any], str]:
    """(OpenVINO properties, effective precision) for a requested component precision."""
    config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY"}
    if device == "CPU":
        config["INFERENCE_NUM_THREADS"] = threads or physical_cores()
    effective = precision
    hint = "f32"
    if precision == "fp16":
        half = half_type(core, device)
        hint = half or "f32"
        effective = {"bf16": "bf16", "f16": "fp16"}.get(half or "", "fp32")
    config["INFERENCE_PRECISION_HINT"] = hint
    return config, effective


class OpenVINOComponentRunner:
    """One compiled model + infer request for one component."""

    def __init__(self, spec: ComponentSpec, path: str | os.PathLike, precision: str, *, core: Any = None,
                 device: str = "CPU", threads: int | None = None):
        ov = import_openvino()
        self.name = spec.name
        self.spec = spec
        self.core = core or ov.Core()
        config, self.precision = compile_config(self.core, device, precision, threads)
        if self.precision != precision:
            log.info("%s: %s requested, running %s on OpenVINO %s", spec.name, precision, self.precision, device)
        self.compiled = self.core.compile_model(str(path), device, config)
        self.request = self.compiled.create_infer_request()
        names = {n for port in self.compiled.outputs for n in port.get_names()}
        missing = [n for n in spec.outputs if n not in names]
        if missing:
            raise ValueError(f"{path}: OpenVINO model lacks outputs {missing} of component {spec.name}")

    def __call__(self, inputs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        feed = {name: to_numpy(inputs[name]) for name in self.spec.inputs}
        self.request.infer(feed)
        # Copy: the request reuses its output buffers on the next call.
        return {name: to_torch(np.array(self.request.get_tensor(name).data, copy=True)) for name in self.spec.outputs}


def save_ir(model_path: str | os.PathLike, xml_path: str | os.PathLike) -> None:
    """ONNX -> OpenVINO IR with FP32 weights (``save_model`` would compress them to FP16 by default)."""
    ov = import_openvino()
    ov.save_model(ov.convert_model(str(model_path)), str(xml_path), compress_to_fp16=False)
