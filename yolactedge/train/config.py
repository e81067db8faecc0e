"""``TrainConfig``: every knob of a training run, serialisable so a checkpoint can resume it exactly.

Defaults are the original's (spec 12.3): SGD lr 1e-3, momentum 0.9, weight decay 5e-4 on all
parameters, batch 8, linear warm-up from 1e-4 over 500 iterations, step schedule x0.1 at 35%,
75%, 87.5% and 93.75% of training (280k/600k/700k/750k of 800k). Unlike the original, the
length of training is given in epochs (iterations are derived from the dataset size and the
global batch), because "800k iterations" means nothing for a custom dataset.

Linear LR scaling (``lr_scaling``, on by default, as the original): ``lr`` and ``warmup_init``
are the values for a *global* batch of 8 and are multiplied by ``world_size * batch_size / 8``.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from yolactedge.config.presets import get_config
from yolactedge.config.schema import ModelConfig
from yolactedge.data.augment import AugmentConfig

SCHEDULES = ("step", "cosine", "constant")
OPTIMIZERS = ("sgd", "adamw")
AMP_MODES = ("off", "fp16", "bf16")
VAL_UNITS = ("epoch", "iter")
REFERENCE_BATCH = 8  # the batch the original's lr was tuned for
# The original COCO steps 280k, 600k, 700k, 750k of 800k iterations, as fractions.
DEFAULT_LR_STEPS = (0.35, 0.75, 0.875, 0.9375)


@dataclass(frozen=True)
class TrainConfig:
    """One training run. ``to_dict``/``from_dict`` round-trip through plain Python types."""

    out_dir: str = "runs/train"
    # optimiser: "sgd" as the original; "adamw" converges faster from scratch on a small budget
    optimizer: str = "sgd"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 5e-4
    lr_scaling: bool = True  # lr x world_size*batch/8 (the original's linear scaling rule)
    # schedule
    schedule: str = "step"
    lr_steps: tuple[float, ...] = DEFAULT_LR_STEPS  # < 1: fraction of max_iter, >= 1: iteration
    gamma: float = 0.1
    warmup_iters: int = 500
    warmup_init: float = 1e-4
    # length: epochs is the user's unit; max_iter (if set) wins
    epochs: int = 54  # the original COCO run: 800k iterations x 8 images / 118k images
    max_iter: int | None = None
    # data
    batch_size: int = 8  # per process
    num_workers: int = 2
    seed: int = 0
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    # numerics
    amp: str = "off"  # fp16 (CUDA, with GradScaler) or bf16 autocast (CUDA, or CPUs with AVX512-BF16/AMX)
    channels_last: bool = False  # NHWC memory format (faster convolutions on CPU and tensor-core GPUs)
    max_nonfinite: int = 10  # stop after this many consecutive non-finite losses
    freeze_bn: bool = False  # BatchNorm in eval mode with frozen affine parameters
    sync_bn: bool = False  # DDP only: SyncBatchNorm (recommended when the per-GPU batch is < 6)
    # bookkeeping
    save_every: int = 1000  # iterations between last.pt writes (also written at validation and the end)
    val_every: int = 1  # in ``val_unit``s; 0 disables periodic validation (the final one still runs)
    val_unit: str = "epoch"
    val_max_images: int | None = None  # validate on the first N images only (fast feedback)
    log_every: int = 20  # iterations between log lines when no progress bar is shown
    tensorboard: bool = True
    plot: bool = True
    # initialisation
    pretrained_backbone: str | None = None  # torchvision-format ImageNet file
    init: str | None = None  # checkpoint whose weights start the run
    finetune: bool = False  # re-initialise class-count-dependent heads when the class count differs

    def __post_init__(self) -> None:
        checks = [
            (self.optimizer in OPTIMIZERS, f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}"),
            (self.schedule in SCHEDULES, f"schedule must be one of {SCHEDULES}, got {self.schedule!r}"),
            (self.amp in AMP_MODES, f"amp must be one of {AMP_MODES}, got {self.amp!r}"),
            (self.val_unit in VAL_UNITS, f"val_unit must be one of {VAL_UNITS}, got {self.val_unit!r}"),
            (self.lr > 0 and math.isfinite(self.lr), f"lr must be a positive number, got {self.lr}"),
            (self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}"),
            (self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}"),
            (self.max_iter is None or self.max_iter >= 1, f"max_iter must be >= 1, got {self.max_iter}"),
            (self.warmup_iters >= 0, f"warmup_iters must be >= 0, got {self.warmup_iters}"),
            (self.num_workers >= 0, f"num_workers must be >= 0, got {self.num_workers}"),
            (self.max_nonfinite >= 1, f"max_nonfinite must be >= 1, got {self.max_nonfinite}"),
            (self.save_every >= 0 and self.val_every >= 0, "save_every and val_every must be >= 0"),
            (all(s > 0 for s in self.lr_steps), f"lr_steps must be positive, got {self.lr_steps}"),
            (0 < self.gamma <= 1, f"gamma must be in (0, 1], got {self.gamma}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    def replace(self, **changes: Any) -> "TrainConfig":
        """A copy with fields replaced; ``augment`` also accepts a dict of its fields."""
        if isinstance(changes.get("augment"), dict):
            changes["augment"] = dataclasses.replace(self.augment, **changes["augment"])
        if "lr_steps" in changes:
            changes["lr_steps"] = tuple(float(s) for s in changes["lr_steps"])
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["lr_steps"] = list(self.lr_steps)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        """Inverse of ``to_dict``; unknown keys are an error (a newer/older file is not guessed at)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown TrainConfig fields: {unknown}")
        values = dict(data)
        if isinstance(values.get("augment"), dict):
            values["augment"] = AugmentConfig(**values["augment"])
        if "lr_steps" in values:
            values["lr_steps"] = tuple(float(s) for s in values["lr_steps"])
        return cls(**values)

    # -- derived quantities ---------------------------------------------------------------------
    def global_batch(self, world_size: int = 1) -> int:
        return self.batch_size * world_size

    def lr_scale(self, world_size: int = 1) -> float:
        """Factor applied to ``lr`` and ``warmup_init`` (1 when ``lr_scaling`` is off)."""
        return self.global_batch(world_size) / REFERENCE_BATCH if self.lr_scaling else 1.0

    def iters_per_epoch(self, dataset_size: int, world_size: int = 1) -> int:
        """Whole global batches per epoch (at least 1: a tiny dataset is cycled to fill a batch)."""
        return max(1, dataset_size // self.global_batch(world_size))

    def total_iters(self, dataset_size: int, world_size: int = 1) -> int:
        if self.max_iter is not None:
            return self.max_iter
        return self.epochs * self.iters_per_epoch(dataset_size, world_size)


def build_model_config(
    base: ModelConfig | str,
    class_names: tuple[str, ...] | list[str],
    input_size: int | tuple[int, int] | None = None,
    backbone: str | None = None,
    fpn_features: int | None = None,
    proto_channels: int | None = None,
    width_mult: float | None = None,
) -> ModelConfig:
    """The architecture to train: ``base`` with the dataset's class names and optional size overrides.

    Class names always come from the dataset (never typed by hand), so ``num_classes`` is right by
    construction. ``backbone`` also picks that backbone's FPN input stages.
    """
    config = get_config(base) if isinstance(base, str) else base
    changes: dict[str, Any] = {"class_names": tuple(class_names)}
    if input_size is not None:
        size = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
        changes["preprocess"] = {"input_size": (int(size[0]), int(size[1]))}
    backbone_changes: dict[str, Any] = {}
    if backbone is not None and backbone != config.backbone.name:
        selected = (3, 4, 6) if backbone == "mobilenetv2" else (1, 2, 3)
        backbone_changes.update(name=backbone, selected_layers=selected)
    if width_mult is not None:
        backbone_changes["width_mult"] = float(width_mult)
    if backbone_changes:
        changes["backbone"] = backbone_changes
    if fpn_features is not None:
        changes["fpn"] = {"num_features": int(fpn_features)}
    if proto_channels is not None:
        changes["proto"] = {"channels": int(proto_channels)}
    return config.replace(**changes)
