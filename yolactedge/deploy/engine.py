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
from yolactedge.model.inference_copy import inference_copy
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
    """Eager PyTorch on CPU or CUDA; ``half=True`` runs FP16 autocast on CUDA.

    ``optimize`` (default) runs an inference copy of ``model`` (BatchNorm folded; channels_last on
    CPU, see ``yolactedge.model.inference_copy``): same outputs up to float rounding, faster. The copy
    is rebuilt when the weights of ``model`` change in place (``load_state_dict``, fine-tuning) or
    when forward hooks are added to or removed from it (the copy carries them); ``model`` itself is
    never modified, and its ``reuse_prototypes`` / ``reuse_heads`` attributes stay the defaults.
    """

    backend = "pytorch"

    def __init__(self, model: nn.Module, config: ModelConfig, device: torch.device, half: bool = False,
                 optimize: bool = True):
        self.model = model.to(device).eval()
        self.config = config
        self.device = device
        self.half = bool(half and device.type == "cuda")
        self.optimize = optimize
        self.channels_last = optimize and device.type == "cpu"
        self._runtime: nn.Module | None = None
        self._runtime_key: tuple | None = None
        self._times: dict[str, float] = {}

    def runtime_model(self) -> nn.Module:
        """The module that runs: ``model`` itself, or its inference copy (rebuilt if weights changed)."""
        if not self.optimize:
            return self.model.eval()
        key = (tuple((id(t), t._version) for t in (*self.model.parameters(), *self.model.buffers())),
               tuple(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in self.model.modules()))
        if self._runtime is None or key != self._runtime_key:
            self._runtime = inference_copy(self.model.eval(), channels_last=self.channels_last)
            self._runtime_key = key
        return self._runtime

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
        # Unset options fall back to ``self.model``'s attributes, the user-visible defaults.
        if reuse_prototypes is None:
            reuse_prototypes = getattr(self.model, "reuse_prototypes", None)
        if reuse_heads is None:
            reuse_heads = getattr(self.model, "reuse_heads", None)
        options = {k: v for k, v in (("reuse_prototypes", reuse_prototypes), ("reuse_heads", reuse_heads))
                   if v is not None}
        batch = batch.to(self.device)
        if self.channels_last:
            batch = batch.contiguous(memory_format=torch.channels_last)
        with autocast:
            out = self.runtime_model()(batch, keyframe_state=keyframe_state, **options)
        if self.half:
            out = YolactOutput(*(t.float() if isinstance(t, torch.Tensor) else t for t in out))
        self._times = {"network": (time.perf_counter() - start) * 1e3}
        return out
