"""Open an export folder as an ``Engine``: read ``manifest.json``, build one runner per component
for the chosen backend, chain them in a ``ComponentPipeline``. No checkpoint needed."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Callable, Mapping

import torch

from yolactedge.config.schema import ModelConfig
from yolactedge.deploy.backends import BACKENDS
from yolactedge.deploy.backends.pipeline import ComponentPipeline
from yolactedge.deploy.components import component_specs
from yolactedge.deploy.metadata import ManifestError, read_manifest

log = logging.getLogger(__name__)

TARGET_BACKENDS = {"onnx": "onnxruntime", "openvino": "openvino", "tensorrt": "tensorrt"}


def default_backend(manifest: Mapping[str, Any]) -> str:
    return TARGET_BACKENDS.get(manifest.get("target", "onnx"), "onnxruntime")


def resolve_engine_device(backend: str, device: str | torch.device | None) -> torch.device | str:
    """'auto' -> CUDA for TensorRT, CUDA for ONNX Runtime when both torch and ORT see a GPU, else CPU.
    OpenVINO returns its own device name (CPU, GPU, NPU)."""
    text = "auto" if device is None else str(device)
    if backend == "openvino":
        from yolactedge.deploy.backends.openvino import openvino_device

        return openvino_device(text)
    if backend == "tensorrt":
        return torch.device("cuda" if text in ("auto", "cuda") else text)
    if text == "auto":
        import onnxruntime

        gpu = torch.cuda.is_available() and "CUDAExecutionProvider" in onnxruntime.get_available_providers()
        return torch.device("cuda" if gpu else "cpu")
    return torch.device(text)


def engine_cache_dir(folder: Path) -> Path:
    """``<folder>/engines`` when writable (engines travel with the export), else the user cache."""
    target = folder / "engines"
    try:
        target.mkdir(exist_ok=True)
        probe = target / ".write-test"
        probe.touch()
        probe.unlink()
        return target
    except OSError:
        from yolactedge.deploy.quantize import default_cache_dir

        return default_cache_dir() / "engines"


def _onnx_precision(entry: Mapping[str, Any]) -> str:
    """Precision of the ONNX file itself: an NNCF-quantized component has INT8 only in its OpenVINO IR."""
    return entry.get("onnx_precision", entry["precision"])


def build_runners(folder: Path, manifest: Mapping[str, Any], config: ModelConfig, backend: str,
                  device: torch.device | str, progress: Callable[[str], None] = log.info) -> dict[str, Any]:
    specs = component_specs(config)
    entries = manifest["components"]
    missing = [n for n in specs if n not in entries]
    if missing:
        raise ManifestError(f"{folder}: manifest lacks components {missing} needed by {config.name}")
    runners: dict[str, Any] = {}
    if backend == "onnxruntime":
        from yolactedge.deploy.backends.onnxruntime import OrtComponentRunner

        for name, spec in specs.items():
            e = entries[name]
            ort_device = torch.device(device)
            cache = engine_cache_dir(folder) if ort_device.type == "cuda" else None  # TensorRT EP engines
            runners[name] = OrtComponentRunner(spec, folder / e["file"], _onnx_precision(e), device=ort_device,
                                               cache_dir=cache)
    elif backend == "openvino":
        from yolactedge.deploy.backends.openvino import OpenVINOComponentRunner, import_openvino

        core = import_openvino().Core()
        for name, spec in specs.items():
            e = entries[name]
            path = folder / (e.get("openvino") or e["file"])
            runners[name] = OpenVINOComponentRunner(spec, path, e["precision"], core=core, device=str(device))
    elif backend == "tensorrt":
        from yolactedge.deploy.backends.tensorrt import EngineCache, TensorRTComponentRunner, import_tensorrt, require_cuda

        import_tensorrt()
        device = torch.device(device)
        require_cuda(device)
        cache = EngineCache(engine_cache_dir(folder))
        for name, spec in specs.items():
            e = entries[name]
            data = cache.get_or_build(name, folder / e["file"], _onnx_precision(e), device, progress)
            runners[name] = TensorRTComponentRunner(spec, data, _onnx_precision(e), device)
    else:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    return runners


def load_engine(folder: str | os.PathLike, device: str | torch.device | None = "auto", backend: str | None = None,
                progress: Callable[[str], None] = log.info) -> ComponentPipeline:
    """The pipeline of an export folder. ``backend``: onnxruntime, openvino or tensorrt (default:
    what the folder was exported for); every backend reads the same component ONNX files."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    config = ModelConfig.from_dict(manifest["config"])
    backend = backend or default_backend(manifest)
    target = resolve_engine_device(backend, device)
    runners = build_runners(folder, manifest, config, backend, target, progress)
    # Outputs of ONNX Runtime and OpenVINO come back in host memory; TensorRT keeps them on the GPU.
    torch_device = target if backend == "tensorrt" else torch.device("cpu")
    requested = {n: e["precision"] for n, e in manifest["components"].items()}
    return ComponentPipeline(runners, config, backend=backend, device=torch_device,
                             batch=manifest.get("batch", 1), requested=requested)
