"""Deployment: per-component export (ONNX, OpenVINO, TensorRT), precision plans, INT8
calibration, parity checks, and engines that run exported folders (see README.md here).

    >>> from yolactedge.deploy import export_model, load_engine
    >>> export_model(model, config, "exported/", target="onnx", precision="paper", calib="calib_images/")
    >>> engine = load_engine("exported/")             # or YolactEdge.load("exported/")

Submodules import their heavy dependencies (onnx, onnxruntime, openvino, nncf, tensorrt) only
when used, so ``import yolactedge.deploy`` stays cheap.
"""
from __future__ import annotations

from typing import Any

_LAZY = {
    "export_model": ("yolactedge.deploy.export", "export_model"),
    "ExportOptions": ("yolactedge.deploy.export", "ExportOptions"),
    "load_engine": ("yolactedge.deploy.load", "load_engine"),
    "PrecisionPlan": ("yolactedge.deploy.precision", "PrecisionPlan"),
    "ComponentPipeline": ("yolactedge.deploy.backends.pipeline", "ComponentPipeline"),
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'yolactedge.deploy' has no attribute {name!r}")
