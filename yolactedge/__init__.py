"""yolactedge: real-time instance segmentation (YolactEdge, ICRA 2021), weight-compatible re-implementation.

    >>> from yolactedge import YolactEdge
    >>> model = YolactEdge.load("weights.pt")            # our checkpoints carry their config
    >>> results = model.predict("image.jpg", conf=0.3)
"""
from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "build_model": ("yolactedge.model.build", "build_model"),
    "YolactEdge": ("yolactedge.api.predictor", "YolactEdge"),
    "Results": ("yolactedge.api.results", "Results"),
    "get_config": ("yolactedge.config.presets", "get_config"),
    "list_presets": ("yolactedge.config.presets", "list_presets"),
    "ModelConfig": ("yolactedge.config.schema", "ModelConfig"),
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    """Import heavy submodules only when used (``import yolactedge`` stays fast)."""
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'yolactedge' has no attribute {name!r}")
