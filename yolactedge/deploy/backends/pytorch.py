"""Components run by PyTorch in FP32: the reference every exported engine is compared against,
and the source of calibration inputs for intermediate components."""
from __future__ import annotations

from typing import Mapping

import torch
from torch import nn

from yolactedge.config.schema import ModelConfig
from yolactedge.deploy.components import ComponentSpec, build_component, component_specs


class TorchComponentRunner:
    """One export wrapper run eagerly (the very module that was exported). ``dtype=torch.float64``
    gives the near-exact reference that tells float32 rounding noise from real deviations."""

    def __init__(self, spec: ComponentSpec, module: nn.Module, device: torch.device, dtype: torch.dtype = torch.float32):
        self.name = spec.name
        self.spec = spec
        self.dtype = dtype
        self.module = module.to(device, dtype).eval()
        self.device = device
        self.precision = "fp64" if dtype == torch.float64 else "fp32"

    @torch.inference_mode()
    def __call__(self, inputs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        args = [inputs[n].to(self.device, self.dtype) for n in self.spec.inputs]
        out = self.module(*args)
        out = out if isinstance(out, tuple) else (out,)
        return dict(zip(self.spec.outputs, out))


def torch_runners(model: nn.Module, config: ModelConfig, device: torch.device | str = "cpu",
                  dtype: torch.dtype = torch.float32) -> dict[str, TorchComponentRunner]:
    """Runners sharing ``model``'s weights (a float64 reference needs its own copy of the model)."""
    device = torch.device(device)
    model = model.eval()
    return {name: TorchComponentRunner(spec, build_component(model, name), device, dtype)
            for name, spec in component_specs(config).items()}
