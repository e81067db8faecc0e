"""The one interface every runtime implements for one component."""
from __future__ import annotations

from typing import Mapping, Protocol, runtime_checkable

import numpy as np
import torch


@runtime_checkable
class ComponentRunner(Protocol):
    """Runs one exported component: named input tensors -> named output tensors.

    ``precision`` is what actually runs (e.g. "fp32" for an FP16 request on a CPU without fast
    half precision), so users see the effective plan, not the requested one.
    """

    name: str
    precision: str

    def __call__(self, inputs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]: ...


def to_numpy(tensor: torch.Tensor) -> np.ndarray:
    """float32, contiguous, on the host (zero-copy for CPU float32 tensors)."""
    return np.ascontiguousarray(tensor.detach().to("cpu", torch.float32).numpy())


def to_torch(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array))
