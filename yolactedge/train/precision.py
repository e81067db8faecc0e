"""Mixed precision for the trainers: which autocast dtype a device gets, and float32 losses.

bfloat16 autocast pays off on CUDA and on CPUs with native bfloat16 (AVX512-BF16 / AMX); the
network runs in it, the losses never do (box matching and BCE lose accuracy in 8 mantissa bits).
"""
from __future__ import annotations

import logging
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch

log = logging.getLogger(__name__)


def cpu_has_bf16() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def bf16_dtype(device: torch.device, warn: bool = True) -> torch.dtype | None:
    """The autocast dtype for ``amp="bf16"`` on ``device`` (None: not supported there, float32)."""
    if device.type == "cpu" and not cpu_has_bf16() and warn:
        log.warning("amp=bf16: this CPU has no native bfloat16 (AVX512-BF16/AMX); it will be emulated and slower "
                    "than float32 - consider --amp off")
    if device.type in ("cpu", "cuda"):
        return torch.bfloat16
    if warn:
        log.warning("amp=bf16 is not supported on %s; training in float32", device)
    return None


def autocast(device: torch.device, dtype: torch.dtype | None) -> AbstractContextManager:
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else nullcontext()


def float_outputs(out: Any) -> Any:
    """A NamedTuple of network outputs with every low-precision floating tensor cast to float32."""
    def cast(value: Any) -> Any:
        if isinstance(value, torch.Tensor) and value.is_floating_point() and value.dtype != torch.float32:
            return value.float()
        return value
    return out._replace(**{name: cast(getattr(out, name)) for name in out._fields})
