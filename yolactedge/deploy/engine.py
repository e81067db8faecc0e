"""One interface for every way of running the network (PyTorch, ONNX Runtime, OpenVINO, TensorRT).

An engine maps a preprocessed batch (and, for video presets, a keyframe state) to the raw
``YolactOutput`` with class probabilities. Everything after that (NMS, masks) is shared code in
``yolactedge.ops``, so every backend yields the same detections for the same raw outputs.
"""
from __future__ import annotations

import contextlib
import time
from typing import Protocol, runtime_checkable

import torch
from torch import nn

from yolactedge.config.schema import ModelConfig
from yolactedge.model.outputs import KeyframeState, YolactOutput


@runtime_checkable
class Engine(Protocol):
    config: ModelConfig
    backend: str
    device: torch.device

    @property
    def is_video(self) -> bool: ...

    @property
    def precision(self) -> dict[str, str]: ...

    def infer(self, batch: torch.Tensor, keyframe_state: KeyframeState | None = None, *,
              reuse_prototypes: bool | None = None, reuse_heads: float | None = None) -> YolactOutput: ...

    @property
    def last_stage_times(self) -> dict[str, float]: ...


class PyTorchEngine:
    """Eager PyTorch on CPU or CUDA; ``half=True`` runs FP16 autocast on CUDA."""

    backend = "pytorch"

    def __init__(self, model: nn.Module, config: ModelConfig, device: torch.device, half: bool = False):
        self.model = model.to(device).eval()
        self.config = config
        self.device = device
        self.half = bool(half and device.type == "cuda")
        self._times: dict[str, float] = {}

    @property
    def is_video(self) -> bool:
        return bool(getattr(self.model, "is_video", False))

    @property
    def precision(self) -> dict[str, str]:
        return {"all": "fp16" if self.half else "fp32"}

    @property
    def last_stage_times(self) -> dict[str, float]:
        return dict(self._times)

    @torch.inference_mode()
    def infer(self, batch: torch.Tensor, keyframe_state: KeyframeState | None = None, *,
              reuse_prototypes: bool | None = None, reuse_heads: float | None = None) -> YolactOutput:
        """``reuse_prototypes`` / ``reuse_heads``: the non-keyframe options of ``Yolact.forward``
        (None: the model's defaults, from its config)."""
        start = time.perf_counter()
        autocast = torch.autocast("cuda", dtype=torch.float16) if self.half else contextlib.nullcontext()
        options = {k: v for k, v in (("reuse_prototypes", reuse_prototypes), ("reuse_heads", reuse_heads))
                   if v is not None}
        with autocast:
            out = self.model(batch.to(self.device), keyframe_state=keyframe_state, **options)
        if self.half:
            out = YolactOutput(*(t.float() if isinstance(t, torch.Tensor) else t for t in out))
        self._times = {"network": (time.perf_counter() - start) * 1e3}
        return out
