"""Our checkpoint format: weights plus the full config, so one path rebuilds the model."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from yolactedge.checkpoints.io import CheckpointError, load_weights_file, save_atomic
from yolactedge.checkpoints.original import check_state_dict, load_original_state_dict
from yolactedge.config.presets import get_config
from yolactedge.config.schema import ModelConfig

FORMAT_NAME = "yolactedge-checkpoint"
FORMAT_VERSION = 1


@dataclass
class Checkpoint:
    config: ModelConfig
    state_dict: dict[str, torch.Tensor]
    train_state: dict[str, Any] | None = None  # optimizer, iteration, epoch, rng... (resumable training)
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_payload(self) -> dict[str, Any]:
        return {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "config": self.config.to_dict(),
            "class_names": list(self.config.class_names),
            "model": self.state_dict,
            "train_state": self.train_state,
            "metadata": self.metadata,
        }


def save_checkpoint(
    path: str | os.PathLike, model: nn.Module, config: ModelConfig, *,
    train_state: dict[str, Any] | None = None, metadata: dict[str, Any] | None = None,
) -> None:
    """Atomic write of weights + config (+ resumable training state)."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    save_atomic(Checkpoint(config, state, train_state, dict(metadata or {})).to_payload(), path)


def is_our_checkpoint(payload: Any) -> bool:
    return isinstance(payload, dict) and payload.get("format") == FORMAT_NAME


def read_checkpoint(path: str | os.PathLike, config: ModelConfig | str | None = None) -> Checkpoint:
    """Our checkpoints carry their config; original plain state dicts need ``config`` (a preset name)."""
    payload = load_weights_file(path)
    if is_our_checkpoint(payload):
        if payload.get("version", 0) > FORMAT_VERSION:
            raise CheckpointError(f"{path}: written by a newer yolactedge (format v{payload['version']}); upgrade the package")
        stored = ModelConfig.from_dict(payload["config"])
        if config is not None:
            wanted = get_config(config) if isinstance(config, str) else config
            if wanted.name != stored.name:
                raise CheckpointError(f"{path}: stores config {stored.name!r} but {wanted.name!r} was requested; "
                                      "leave config=None to use the stored one")
        return Checkpoint(stored, payload["model"], payload.get("train_state"), payload.get("metadata") or {})
    if not isinstance(payload, dict) or not all(isinstance(v, torch.Tensor) for v in payload.values()):
        raise CheckpointError(f"{path}: neither a yolactedge checkpoint nor a plain state dict")
    if config is None:
        raise CheckpointError(
            f"{path}: a plain state dict (original YOLACT/YolactEdge checkpoint) carries no config; pass "
            "config=<preset name>, e.g. config='yolact_edge_config' (R-101), 'yolact_edge_resnet50_config', "
            "'yolact_edge_mobilenetv2_config' or 'yolact_edge_vid_config'"
        )
    cfg = get_config(config) if isinstance(config, str) else config
    return Checkpoint(cfg, dict(payload), None, {"source": "original"})


def load_model_weights(model: nn.Module, checkpoint: Checkpoint, *, finetune: bool = False,
                       allow_missing_video: bool = False) -> None:
    """Load a checkpoint into a model built from a (possibly different) config, with checks."""
    if checkpoint.metadata.get("source") == "original":
        load_original_state_dict(model, checkpoint.state_dict, num_downsample=checkpoint.config.fpn.num_downsample,
                                 finetune=finetune, allow_missing_video=allow_missing_video)
        return
    state = check_state_dict(model, checkpoint.state_dict, finetune=finetune, allow_missing_video=allow_missing_video)
    model.load_state_dict(state, strict=False)
