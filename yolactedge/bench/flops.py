"""Multiply-accumulates of one frame, per component: what a measured time is compared against.

Counted with forward hooks on convolutions and linear layers while the PyTorch component
pipeline runs, so the split is the one the engines use (backbone, FPN phases, ProtoNet, head,
flow...). Elementwise work (BatchNorm folded at export, ReLU, additions, bilinear resizes, the
flow warp) is not counted: for YolactEdge it is a few percent of the convolution MACs.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Mapping

import torch
from torch import nn

from yolactedge.config.schema import ModelConfig
from yolactedge.deploy.backends.pipeline import ComponentPipeline
from yolactedge.deploy.backends.pytorch import torch_runners
from yolactedge.model.outputs import KeyframeState

_COUNTED = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)


def layer_macs(module: nn.Module, inputs: tuple[Any, ...], output: torch.Tensor) -> int:
    """MACs of one call of a convolution / linear layer (batch included)."""
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        return output.numel() * (module.in_channels // module.groups) * kh * kw
    if isinstance(module, nn.ConvTranspose2d):
        kh, kw = module.kernel_size
        return inputs[0].numel() * (module.out_channels // module.groups) * kh * kw
    if isinstance(module, nn.Linear):
        return output.numel() * module.in_features
    return 0


class _Named:
    """A component runner that tells the hooks which component is running."""

    def __init__(self, runner: Any, current: list[str]):
        self.runner = runner
        self.name = runner.name
        self.precision = runner.precision
        self._current = current

    def __call__(self, inputs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        self._current[0] = self.name
        return self.runner(inputs)


def count_macs(model: nn.Module, config: ModelConfig, batch: torch.Tensor | None = None,
               keyframe_state: KeyframeState | None = None) -> tuple[dict[str, int], KeyframeState | None]:
    """(MACs per component, keyframe state) of one keyframe pass (``keyframe_state`` None) or one
    non-keyframe pass. ``batch`` defaults to one random image of the config's input size (MACs do
    not depend on pixel values)."""
    device = next(model.parameters()).device
    if batch is None:
        batch = torch.randn(1, 3, *config.input_size, generator=torch.Generator().manual_seed(0))
    current = ["other"]
    counts: dict[str, int] = defaultdict(int)

    def hook(module: nn.Module, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
        counts[current[0]] += layer_macs(module, inputs, output)

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, _COUNTED)]
    try:
        runners = {name: _Named(r, current) for name, r in torch_runners(model, config, device).items()}
        pipeline = ComponentPipeline(runners, config, backend="pytorch", device=device, batch=None)
        with torch.inference_mode():
            out = pipeline.infer(batch.to(device), keyframe_state)
    finally:
        for handle in handles:
            handle.remove()
    return dict(counts), out.state


def frame_macs(model: nn.Module, config: ModelConfig) -> dict[str, dict[str, int]]:
    """{"key": MACs per component} and, for video presets, {"nonkey": ...} (one image, batch 1)."""
    key, state = count_macs(model, config)
    result = {"key": key}
    if config.is_video and state is not None:
        batch = torch.randn(1, 3, *config.input_size, generator=torch.Generator().manual_seed(1))
        result["nonkey"] = count_macs(model, config, batch, state)[0]
    return result
