"""Multi-process training helpers (``torchrun`` / ``torch.multiprocessing``): one process per device.

The process group is initialised from the standard environment (``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``), with NCCL on CUDA and Gloo on CPU. Rank 0
alone logs, validates and writes files; the others wait at barriers.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from yolactedge.runtime.device import resolve_device

log = logging.getLogger(__name__)
MIN_BN_BATCH = 6  # below this per-process batch, plain BatchNorm statistics are too noisy


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def env_world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def setup(device: str | torch.device = "auto") -> DistInfo:
    """Join the process group when launched with ``WORLD_SIZE`` > 1 (idempotent), pick the device."""
    world = env_world_size()
    if world <= 1:
        return DistInfo(device=resolve_device(device))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", str(rank)))
    dev = resolve_device(device)
    if dev.type == "cuda":
        dev = torch.device("cuda", local_rank)
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        for name in ("MASTER_ADDR", "MASTER_PORT"):
            if name not in os.environ:
                raise RuntimeError(f"WORLD_SIZE={world} but {name} is not set: launch with "
                                   "`torchrun --nproc_per_node=N -m yolactedge.cli.main train ...`")
        backend = "nccl" if dev.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, rank=rank, world_size=world)
    return DistInfo(rank=rank, world_size=world, local_rank=local_rank, device=dev)


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def all_reduce_mean(values: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Mean over ranks (a non-finite value on any rank makes the result non-finite everywhere,
    so every rank takes the same skip-or-step decision)."""
    if not info.enabled:
        return values
    values = values.clone()
    dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values / info.world_size


def broadcast_object(obj: object, info: DistInfo) -> object:
    """Rank 0's value on every rank (e.g. a decision to stop)."""
    if not info.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def wrap(model: nn.Module, info: DistInfo, sync_bn: bool = False) -> nn.Module:
    """DDP-wrap (optionally converting BatchNorm to SyncBatchNorm first); identity when single-process."""
    if not info.enabled:
        return model
    if sync_bn and info.device.type != "cuda":
        if info.is_main:
            log.warning("sync_bn needs CUDA (PyTorch's SyncBatchNorm is GPU-only): per-process BatchNorm on CPU")
    elif sync_bn:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    ids = [info.device.index] if info.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids, output_device=ids[0] if ids else None)


def unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def batchnorm_advice(batch_size: int, world_size: int, freeze_bn: bool, sync_bn: bool) -> str | None:
    """A warning for the classic multi-GPU NaN cause (per-GPU batch < 6 with live BatchNorm)."""
    if batch_size >= MIN_BN_BATCH or freeze_bn or (sync_bn and world_size * batch_size >= MIN_BN_BATCH):
        return None
    fixes = "freeze_bn (--freeze-bn) with a pretrained backbone"
    if world_size > 1:
        fixes = "sync_bn (--sync-bn) or " + fixes
    return (f"per-process batch {batch_size} < {MIN_BN_BATCH}: BatchNorm statistics from so few images are noisy "
            f"and a common cause of NaN losses; consider {fixes}, or a larger batch")


def broadcast_buffers(model: nn.Module, info: DistInfo) -> None:
    """Rank 0's buffers (BatchNorm running statistics) on every rank: DDP syncs them at the start of
    each forward, so after the last step each rank still holds its own local statistics."""
    if not info.enabled:
        return
    for buffer in model.buffers():
        dist.broadcast(buffer.data, src=0)


def freeze_unused_parameters(model: nn.Module, input_size: tuple[int, int]) -> list[str]:
    """Turn off ``requires_grad`` for parameters the forward pass never uses (e.g. MobileNetV2's tail
    layers, kept only so original checkpoints load). DDP needs every trainable parameter to get a
    gradient each step; this avoids ``find_unused_parameters=True`` and its per-step graph walk.

    One probe forward in training mode on zeros; BatchNorm buffers are restored afterwards.
    """
    saved = {name: buf.clone() for name, buf in model.named_buffers()}
    was_training = model.training
    model.train()
    device = next(model.parameters()).device
    out = model(torch.zeros(2, 3, *input_size, device=device))
    tensors = [t for t in out if isinstance(t, torch.Tensor) and t.requires_grad]
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    grads = torch.autograd.grad(sum(t.float().sum() for t in tensors), [p for _, p in params], allow_unused=True)
    unused = [n for (n, p), g in zip(params, grads) if g is None]
    for name, param in params:
        if name in unused:
            param.requires_grad_(False)
    with torch.no_grad():
        for name, buf in model.named_buffers():
            buf.copy_(saved[name])
    model.train(was_training)
    return unused
