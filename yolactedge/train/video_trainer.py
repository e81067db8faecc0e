"""Video training (spec 12.5): what both video stages share, and stage 3, joint fine-tuning.

Stage 2 (flow pre-training on FlyingChairs) lives in ``flow_trainer.py``; both stages run on
:class:`VideoStageTrainer`: SGD with the image trainer's LR schedule (``LRSchedule``), atomic
checkpoints that resume exactly (every batch is a pure function of (seed, iteration), the
mask-loss subsampling is seeded per iteration), CSV/TensorBoard logs, and a guard that skips
non-finite steps and stops after ``max_nonfinite`` in a row.

Stage 3, per iteration (spec 12.5/12.6): a batch of (annotated frame, reference frame k in 2..5
raw frames earlier) pairs with identical augmentation. The reference frame runs the frozen part
of the network (backbone + phase-1 FPN) under ``no_grad`` and becomes the keyframe state; the
annotated frame is used twice: "compute", the full network + ``YolactLoss``, and "warp", the
non-keyframe path from the reference state (flow -> warp M4/M5 -> rebuild M3 -> SPA -> phase-2
FPN -> ProtoNet/heads) + ``YolactLoss`` + the feature-matching loss W. An optional COCO-format
image batch ("joint") adds a third ``YolactLoss``.

Change from the original (documented, spec 17.17): the original makes up to three optimizer
steps per iteration (joint, compute, warp), each with its own ``zero_grad``/``step``; here the
losses are summed and ONE step is made per iteration. The trainable modules and losses are the
same; with the sum, each step sees all three gradients at once, which is better conditioned
than three sequential steps of one momentum buffer and makes an iteration a single unit for
resuming. Single process only (no DDP).
"""
from __future__ import annotations

import dataclasses
import logging
import math
import sys
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from yolactedge.runtime.device import resolve_device
from yolactedge.checkpoints import CheckpointError, load_model_weights, read_checkpoint
from yolactedge.checkpoints.format import Checkpoint
from yolactedge.config.presets import get_config
from yolactedge.config.schema import ModelConfig
from yolactedge.data.augment import AugmentConfig, AugmentedSample, Augmenter
from yolactedge.data.errors import DatasetError
from yolactedge.data.sample import Sample
from yolactedge.model import build_model
from yolactedge.model.outputs import KeyframeState, YolactOutput
from yolactedge.train import ddp
from yolactedge.train.data import TrainBatchSampler, TrainDataset, collate, worker_init
from yolactedge.train.fresh_warmup import warm_up_fresh_top
from yolactedge.train.logging_utils import open_run_logs, plot_curves
from yolactedge.train.losses import YolactLoss
from yolactedge.train.precision import autocast, bf16_dtype, float_outputs
from yolactedge.train.schedule import LRSchedule, resolve_steps
from yolactedge.train.targets import Targets
from yolactedge.train.trainer import TrainingDiverged, step_seed, write_run_checkpoint
from yolactedge.train.video_losses import (FM_KINDS, FM_LOCATIONS, feature_matching_loss, fresh_estimate_loss,
                                          output_distillation_loss)

log = logging.getLogger(__name__)

STATE_VERSION = 1
REFERENCE_BATCH = 8
MAX_RESAMPLES = 50
# The original's lengths in epochs (spec 12.3): 400k its x 8 / 22,232 FlyingChairs pairs and
# 200k its x 8 / 1,904 YTVIS videos (one sampled frame per video and epoch).
DEFAULT_EPOCHS = {"flow": 144, "joint": 847}
FLOW_TRAINABLE = ("flow_net", "flow_net_pre_convs")
JOINT_TRAINABLE = ("flow_net", "flow_net_pre_convs", "spa", "fresh_top", "fpn_phase_2", "proto_net",
                   "prediction_layers", "semantic_seg_conv")
RUNTIME_FIELDS = ("out_dir", "num_workers", "tensorboard", "plot", "log_every", "save_every", "val_every",
                  "val_max_items")
# COCO class names that YouTube-VIS spells differently (spec 12.6); identical names map to themselves.
COCO_TO_YTVIS = {"car": "sedan", "motorcycle": "motorbike", "tennis racket": "tennis_racket"}


@dataclass(frozen=True)
class VideoTrainConfig:
    """One video training run (stage 2 or 3). Defaults are the original video configs': SGD,
    lr 2e-4 for a batch of 8 (scaled linearly), cosine schedule, warm-up from 0 over 500 its."""

    out_dir: str = "runs/video"
    optimizer: str = "sgd"
    lr: float = 2e-4
    momentum: float = 0.9
    weight_decay: float = 5e-4
    lr_scaling: bool = True  # lr x batch/8
    schedule: str = "cosine"
    lr_steps: tuple[float, ...] = (0.35, 0.75, 0.875, 0.9375)
    gamma: float = 0.1
    warmup_iters: int = 500
    warmup_init: float = 0.0
    epochs: int | None = None  # default: the stage's original length (DEFAULT_EPOCHS)
    max_iter: int | None = None  # wins over epochs
    batch_size: int = 8  # flow pairs (stage 2) or video samples (stage 3) per iteration
    num_workers: int = 2
    seed: int = 0
    # stage 3 only
    augment: AugmentConfig = field(default_factory=lambda: AugmentConfig(expand=False))  # vid config: no expand
    offset_range: tuple[int, int] = (2, 5)  # reference frame k raw frames before the annotated one
    fm_loss: str = "auto"  # "auto" (cosine when the model has SPA, none without, as vid_minimal), cosine, l2, none
    fm_loc: str = "L+P"
    fm_alpha: float = 1.0
    warp_alpha: float = 1.0  # weight of the detection losses on the warped pass (the original: 1, as "compute")
    distill_alpha: float = 0.0  # weight of output distillation, warped pass vs full pass (ours; 0: off)
    fresh_alpha: float = 1.0  # weight of the fresh estimates' own loss (flow.fresh_blocks; logged within "fm")
    # lr multiplier of the fresh top; None: 10 for ``fresh_lite`` (trained from scratch: at 1x it learnt
    # little in the recipe's 1200 iterations, BENCHMARKS.md), 1 for ``fresh_blocks`` (copies of trained blocks)
    fresh_lr_mult: float | None = None
    # iterations that train the fresh top alone on single frames before stage 3 (``train/fresh_warmup.py``,
    # AdamW at ``fresh_warmup_lr``); None: 3000 for ``fresh_lite`` (mask gap with 1000 / 3000 / 6000: -2.5 /
    # -2.2 / -2.2, BENCHMARKS.md), 0 for ``fresh_blocks``
    fresh_warmup_iters: int | None = None
    fresh_warmup_lr: float = 1e-3
    joint_batch_size: int | None = None  # COCO images per iteration (default batch_size)
    # numerics and bookkeeping
    amp: str = "off"  # "bf16": autocast the network (CUDA, or CPUs with AVX512-BF16/AMX); losses stay float32
    channels_last: bool = False  # NHWC memory format (faster convolutions on CPU)
    max_nonfinite: int = 10
    save_every: int = 1000
    val_every: int = 0  # iterations between validations; 0: only at the end
    val_max_items: int | None = None  # validate on the first N pairs (stage 2) / videos (stage 3)
    val_keyframe_interval: int = 5
    log_every: int = 20
    tensorboard: bool = True
    plot: bool = True
    # initialisation
    init: str | None = None  # stage 1 (for stage 2) or stage 2 (for stage 3) checkpoint
    init_config: str | None = None  # preset name when ``init`` is an original plain state dict
    finetune: bool = False  # stage 3: re-initialise class heads when the class count differs

    def __post_init__(self) -> None:
        checks = [
            (self.optimizer in ("sgd", "adamw"), f"optimizer must be sgd or adamw, got {self.optimizer!r}"),
            (self.schedule in ("step", "cosine", "constant"), f"unknown schedule {self.schedule!r}"),
            (self.lr > 0 and math.isfinite(self.lr), f"lr must be a positive number, got {self.lr}"),
            (self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}"),
            (self.epochs is None or self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}"),
            (self.max_iter is None or self.max_iter >= 1, f"max_iter must be >= 1, got {self.max_iter}"),
            (self.warmup_iters >= 0 and self.num_workers >= 0, "warmup_iters and num_workers must be >= 0"),
            (self.max_nonfinite >= 1, f"max_nonfinite must be >= 1, got {self.max_nonfinite}"),
            (self.save_every >= 0 and self.val_every >= 0, "save_every and val_every must be >= 0"),
            (len(self.offset_range) == 2 and 0 <= self.offset_range[0] <= self.offset_range[1],
             f"offset_range must be (lo, hi) with 0 <= lo <= hi, got {self.offset_range}"),
            (self.fm_loss in ("auto", "none", *FM_KINDS), f"fm_loss must be auto, none or one of {FM_KINDS}"),
            (self.fm_loc in FM_LOCATIONS, f"fm_loc must be one of {FM_LOCATIONS}, got {self.fm_loc!r}"),
            (self.fm_alpha >= 0, f"fm_alpha must be >= 0, got {self.fm_alpha}"),
            (self.fresh_alpha >= 0, f"fresh_alpha must be >= 0, got {self.fresh_alpha}"),
            (self.fresh_lr_mult is None or self.fresh_lr_mult > 0,
             f"fresh_lr_mult must be > 0, got {self.fresh_lr_mult}"),
            (self.fresh_warmup_iters is None or self.fresh_warmup_iters >= 0,
             f"fresh_warmup_iters must be >= 0, got {self.fresh_warmup_iters}"),
            (self.fresh_warmup_lr > 0, f"fresh_warmup_lr must be > 0, got {self.fresh_warmup_lr}"),
            (self.warp_alpha >= 0, f"warp_alpha must be >= 0, got {self.warp_alpha}"),
            (self.distill_alpha >= 0, f"distill_alpha must be >= 0, got {self.distill_alpha}"),
            (self.joint_batch_size is None or self.joint_batch_size >= 1, "joint_batch_size must be >= 1"),
            (self.val_keyframe_interval >= 1, "val_keyframe_interval must be >= 1"),
            (self.amp in ("off", "bf16"), f"amp must be off or bf16 (video stages), got {self.amp!r}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    def replace(self, **changes: Any) -> "VideoTrainConfig":
        if isinstance(changes.get("augment"), dict):
            changes["augment"] = dataclasses.replace(self.augment, **changes["augment"])
        for key in ("lr_steps", "offset_range"):
            if key in changes:
                changes[key] = tuple(changes[key])
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["lr_steps"], out["offset_range"] = list(self.lr_steps), list(self.offset_range)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "VideoTrainConfig":
        unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"unknown VideoTrainConfig fields: {unknown}")
        values = dict(data)
        if isinstance(values.get("augment"), dict):
            values["augment"] = AugmentConfig(**values["augment"])
        for key in ("lr_steps", "offset_range"):
            if key in values:
                values[key] = tuple(values[key])
        return cls(**values)

    def iters_per_epoch(self, dataset_size: int) -> int:
        return max(1, dataset_size // self.batch_size)

    def total_iters(self, dataset_size: int, stage: str) -> int:
        if self.max_iter is not None:
            return self.max_iter
        return (self.epochs or DEFAULT_EPOCHS[stage]) * self.iters_per_epoch(dataset_size)

    def lr_schedule(self, max_iter: int) -> LRSchedule:
        scale = self.batch_size / REFERENCE_BATCH if self.lr_scaling else 1.0
        return LRSchedule(lr=self.lr * scale, max_iter=max_iter, schedule=self.schedule,
                          steps=resolve_steps(self.lr_steps, max_iter), gamma=self.gamma,
                          warmup_iters=self.warmup_iters, warmup_init=self.warmup_init * scale)


@dataclass
class VideoTrainResult:
    status: str  # "finished" or "interrupted"
    iteration: int
    max_iter: int
    last: Path | None
    best: Path | None
    best_metric: float | None
    message: str


@dataclass
class VideoStepInfo:
    iteration: int  # completed iterations
    epoch: int
    lr: float
    losses: dict[str, float]
    skipped: bool


def training_outputs(model: nn.Module, feats: Sequence[torch.Tensor]) -> YolactOutput:
    """What ``Yolact.forward`` returns in training mode, from phase-1 FPN features (M3, M4, M5)
    (a keyframe's, or the non-keyframe path's M3', W4', W5'): phase-2 FPN, ProtoNet, heads and
    the semantic head. Lets a trainer share one backbone pass and see the warped features."""
    levels = model.fpn_phase_2(*feats)
    proto = model.proto_net(levels[0]).permute(0, 2, 3, 1).contiguous()
    loc, conf, coef = model.heads(levels)
    priors = model.priors([tuple(level.shape[-2:]) for level in levels], loc.device, loc.dtype)
    segm = model.semantic_seg_conv(levels[0]) if model.semantic_seg_conv is not None else None
    return YolactOutput(loc, conf, coef, priors, proto, segm, None)


def _identity(batch: Any) -> Any:
    return batch


def _tty() -> bool:
    try:
        return sys.stderr is not None and sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _grads_finite(optimizer: torch.optim.Optimizer) -> bool:
    grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
    return not grads or bool(torch.isfinite(torch.nn.utils.get_total_norm(grads)))


# The original names of the video configs built on the YouTube-VIS image presets (spec 1).
VIDEO_NAMES = {"yolact_edge_youtubevis_config": "yolact_edge_vid_config",
               "yolact_edge_youtubevis_resnet50_config": "yolact_edge_vid_resnet50_config"}


def add_flow(config: ModelConfig, flow: dict[str, Any] | None = None) -> ModelConfig:
    """An image config turned into the video config of the same network: ``flow`` (``FlowConfig``
    fields, default the original's) added, the name changed to say so (the YouTube-VIS presets
    get their original video names; ``_minimal`` marks a model without SPA)."""
    video = config.replace(flow=dict(flow or {}))
    if config.is_video:
        return video
    minimal = not video.flow.use_spa
    name = VIDEO_NAMES.get(config.name)
    if name is None:
        stem = config.name[: -len("_config")] if config.name.endswith("_config") else config.name
        name = f"{stem}_vid_config"
    if minimal:
        name = name.replace("_vid_", "_vid_minimal_")
    return video.replace(name=name)


def _spa_depth(config: ModelConfig) -> int | None:
    return config.flow.spa_depth if config.flow is not None and config.flow.use_spa else None


def _without_mismatched_spa(init: Checkpoint, model_config: ModelConfig) -> Checkpoint:
    """The init checkpoint minus its SPA when the model asks for another SPA depth: SPA then starts
    from its own initialisation (the identity). Loading a one-conv SPA's zeros into the first layer
    of a deeper one would leave the whole stack without gradients."""
    theirs, ours = _spa_depth(init.config), _spa_depth(model_config)
    if theirs is None or ours is None or theirs == ours:
        return init
    log.warning("SPA depth %d in %s, %d asked for: SPA starts as the identity (stage 2 never trains it; a trained "
                "SPA is discarded)", theirs, init.config.name, ours)
    state = {k: v for k, v in init.state_dict.items() if not k.startswith("spa.")}
    return Checkpoint(init.config, state, init.train_state, init.metadata)


def read_init_checkpoint(path: str, preset: ModelConfig | str | None) -> Checkpoint:
    """Our checkpoint (carries its config) or an original plain state dict (needs ``preset``)."""
    try:
        return read_checkpoint(path)
    except CheckpointError:
        if preset is None:
            raise
        return read_checkpoint(path, config=preset)


class VideoStageTrainer:
    """Shared machinery of the two video stages; subclasses define the data, the losses and the
    validation. ``trainable``: the top-level modules that learn; everything else is frozen
    (``requires_grad`` off) and kept in eval mode (BatchNorm uses its running statistics)."""

    stage = ""
    trainable: tuple[str, ...] = ()
    loss_fields: tuple[str, ...] = ()
    metric_fields: tuple[str, ...] = ()
    higher_is_better = True

    def __init__(self, config: VideoTrainConfig, *, device: str | torch.device = "auto",
                 callbacks: Sequence[Callable[["VideoStageTrainer", VideoStepInfo], None]] = (),
                 show_progress: bool = True) -> None:
        if ddp.env_world_size() > 1:
            raise RuntimeError("video training runs in a single process; launch it without torchrun")
        self.config = config
        self.device = resolve_device(device)
        self.callbacks = list(callbacks)
        self.show_progress = show_progress
        self.out_dir = Path(config.out_dir)
        self.iteration = 0
        self.nonfinite = 0
        self.best: float | None = None
        self.last_saved: tuple[Path, int] | None = None
        self._logs_open = False

    # -- construction --------------------------------------------------------------------------
    def _init_checkpoint(self) -> Checkpoint | None:
        if not self.config.init:
            return None
        return read_init_checkpoint(self.config.init, self.config.init_config)

    def _build(self, model_config: ModelConfig, init: Checkpoint | None, resume: Checkpoint | None,
               dataset_size: int) -> None:
        """Model (seeded init, then the init/resume weights), freezing, optimizer, schedule."""
        if not model_config.is_video:
            raise ValueError(f"{model_config.name} has no flow network (flow=None): video training needs a video "
                             "config (the init checkpoint's config gets one added automatically)")
        self.model_config = model_config
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.config.seed)
            self.model = build_model(model_config)
        if resume is not None:
            self.model.load_state_dict(resume.state_dict)
        elif init is not None:
            if not init.config.is_video and self.stage == "joint":
                log.warning("%s is an image checkpoint: its flow network is untrained (stage 2, `train-video "
                            "--stage flow`, normally comes first)", self.config.init)
            load_model_weights(self.model, _without_mismatched_spa(init, model_config),
                               finetune=self.config.finetune, allow_missing_video=True)
            fresh = getattr(self.model, "fresh_top", None)
            if (fresh is not None and not fresh.from_scratch
                    and not any(k.startswith("fresh_top.") for k in init.state_dict)):
                lats = self.model.fpn_phase_1.lat_layers
                fresh.copy_from(self.model.backbone, lats[0], lats[1])
                log.info("fresh_top starts from the backbone's first %s blocks of its C4/C5 stages", fresh.counts)
            log.info("initialised from %s", self.config.init)
        else:
            log.warning("no init checkpoint: training from random weights (the recipe starts stage 2 from a "
                        "stage-1 image model and stage 3 from stage 2)")
        self.model.to(self.device)
        if self.config.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.amp_dtype = bf16_dtype(self.device) if self.config.amp == "bf16" else None
        self.params = self._freeze()
        cfg = self.config
        groups = self._param_groups()
        if cfg.optimizer == "adamw":
            self.optimizer: torch.optim.Optimizer = torch.optim.AdamW(groups, lr=cfg.lr,
                                                                      weight_decay=cfg.weight_decay)
        else:
            self.optimizer = torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum,
                                             weight_decay=cfg.weight_decay)
        self.dataset_size = dataset_size
        self.iters_per_epoch = cfg.iters_per_epoch(dataset_size)
        self.max_iter = cfg.total_iters(dataset_size, self.stage)
        self.schedule = cfg.lr_schedule(self.max_iter)
        if resume is not None:
            self._load_train_state(resume)
        self.set_train_mode()  # from now on frozen BatchNorm never updates its statistics

    def trainable_modules(self) -> list[tuple[str, nn.Module]]:
        return [(name, getattr(self.model, name)) for name in self.trainable
                if isinstance(getattr(self.model, name, None), nn.Module)]

    def _freeze(self) -> list[nn.Parameter]:
        for p in self.model.parameters():
            p.requires_grad_(False)
        params = []
        for _, module in self.trainable_modules():
            for p in module.parameters():
                p.requires_grad_(True)
                params.append(p)
        if not params:
            raise ValueError(f"none of the trainable modules {self.trainable} exists in {self.model_config.name}")
        return params

    def _by_fresh_kind(self, value, from_scratch, copied):
        """``value`` if set, else the default for the model's kind of fresh top (or none)."""
        if value is not None:
            return value
        fresh = getattr(self.model, "fresh_top", None)
        return from_scratch if fresh is not None and fresh.from_scratch else copied

    def fresh_lr_mult(self) -> float:
        """The fresh top's lr multiplier (``VideoTrainConfig.fresh_lr_mult``; None: 10 from scratch, else 1)."""
        return float(self._by_fresh_kind(self.config.fresh_lr_mult, 10.0, 1.0))

    def warm_up(self) -> None:
        """Before the first iteration of a run (stage 3 overrides it)."""

    def _param_groups(self) -> list[dict[str, Any]]:
        """One group, or two when the fresh top trains at its own lr multiplier (``lr_mult``)."""
        fresh = getattr(self.model, "fresh_top", None)
        mult = self.fresh_lr_mult()
        if fresh is None or mult == 1.0 or not any(p.requires_grad for p in fresh.parameters()):
            return [{"params": self.params, "lr_mult": 1.0}]
        own = {id(p) for p in fresh.parameters()}
        return [{"params": [p for p in self.params if id(p) not in own], "lr_mult": 1.0},
                {"params": [p for p in self.params if id(p) in own], "lr_mult": mult}]

    def autocast(self) -> AbstractContextManager:
        """The network's precision context (``amp``); losses are computed outside it."""
        return autocast(self.device, self.amp_dtype)

    def to_device(self, images: torch.Tensor) -> torch.Tensor:
        images = images.to(self.device, non_blocking=True)
        return images.contiguous(memory_format=torch.channels_last) if self.config.channels_last else images

    def set_train_mode(self) -> None:
        """Frozen modules in eval mode, the trained ones in train mode."""
        self.model.eval()
        for _, module in self.trainable_modules():
            module.train()

    # -- state ---------------------------------------------------------------------------------
    def train_state(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION, "stage": self.stage, "iteration": self.iteration,
            "epoch": self.iteration // self.iters_per_epoch, "max_iter": self.max_iter,
            "iters_per_epoch": self.iters_per_epoch, "dataset_size": self.dataset_size,
            "train_config": self.config.to_dict(), "optimizer": self.optimizer.state_dict(),
            "best": self.best, "nonfinite": self.nonfinite,
        }

    def _load_train_state(self, ckpt: Checkpoint) -> None:
        state = ckpt.train_state or {}
        if state.get("dataset_size") != self.dataset_size:
            log.warning("resuming on a dataset of %s items (the run had %s): the data order and schedule differ",
                        self.dataset_size, state.get("dataset_size"))
        self.optimizer.load_state_dict(state["optimizer"])
        self.iteration = int(state["iteration"])
        self.best = state.get("best")
        self.nonfinite = int(state.get("nonfinite", 0))

    @classmethod
    def resume(cls, path: str | Path, train_set: Any, val_set: Any = None, *, device: str | torch.device = "auto",
               callbacks: Sequence[Callable] = (), show_progress: bool = True, **kwargs: Any) -> "VideoStageTrainer":
        """Continue a run from its ``last.pt``/``interrupt.pt``. Keyword arguments: runtime fields
        of the config (``out_dir``, ``num_workers``, logging...), ``max_iter``/``epochs`` to extend
        the run, and (stage 3) ``joint_set``."""
        ckpt = read_checkpoint(path)
        state = ckpt.train_state
        if not state or "train_config" not in state:
            raise CheckpointError(f"{path}: has no training state (a weights-only checkpoint): start a new run "
                                  "from it with init=... instead")
        if state.get("stage") != cls.stage:
            raise CheckpointError(f"{path}: is a {state.get('stage')!r} stage checkpoint, not {cls.stage!r}")
        extra = {k: kwargs.pop(k) for k in ("joint_set",) if k in kwargs}
        bad = sorted(set(kwargs) - set(RUNTIME_FIELDS) - {"epochs", "max_iter"})
        if bad:
            raise ValueError(f"cannot change {bad} when resuming; start a new run with init=<checkpoint>")
        kwargs.setdefault("out_dir", str(Path(path).parent))
        config = VideoTrainConfig.from_dict(state["train_config"]).replace(**kwargs)
        return cls(config, train_set, val_set, device=device, callbacks=callbacks, show_progress=show_progress,
                   _resume=ckpt, **extra)

    def metadata(self) -> dict[str, Any]:
        return {"kind": "video-training", "stage": self.stage, "iteration": self.iteration,
                "epoch": self.iteration // self.iters_per_epoch, "best": self.best, "data": self.data_paths()}

    def data_paths(self) -> dict[str, Any]:
        return {}

    def save(self, name: str, with_train_state: bool = True) -> Path:
        return write_run_checkpoint(self, name, with_train_state)

    # -- subclass hooks ------------------------------------------------------------------------
    def batches(self) -> Dataset:
        """A map-style dataset: iteration -> that iteration's batch (a pure function of it)."""
        raise NotImplementedError

    def compute_losses(self, batch: Any, iteration: int) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def has_validation(self) -> bool:
        return False

    def evaluate(self) -> tuple[dict[str, Any], float]:
        """(metrics row, the number best.pt is chosen on)."""
        raise NotImplementedError

    # -- the loop ------------------------------------------------------------------------------
    def train(self) -> VideoTrainResult:
        """Run to ``max_iter``. Ctrl-C writes ``interrupt.pt`` (status "interrupted"); divergence
        raises ``TrainingDiverged``."""
        self._open_logs()
        mc = self.model_config
        log.info("video stage %s: %s (%s, input %dx%d) on %s: %d iterations (%d per epoch, batch %d), lr %.3g, "
                 "trainable: %s", self.stage, mc.name, mc.backbone.name, *mc.input_size, self.device, self.max_iter,
                 self.iters_per_epoch, self.config.batch_size, self.schedule.lr,
                 ", ".join(name for name, _ in self.trainable_modules()))
        self._start = time.perf_counter()
        try:
            self._loop()
        except KeyboardInterrupt:
            path = self.save("interrupt.pt")
            message = (f"Interrupted at iteration {self.iteration}/{self.max_iter}; saved {path}. Resume with: "
                       f"yolactedge train-video --resume {path}")
            log.warning(message)
            return VideoTrainResult("interrupted", self.iteration, self.max_iter, path, self._best_path(),
                                    self.best, message)
        finally:
            self.tb.close()
            self._logs_open = False
            if self.config.plot:
                self._plot()
        last = self.save("last.pt")
        message = f"Finished {self.iteration} iterations; weights in {last}"
        if self._best_path() is not None:
            message += f", best ({self.best:.4g}) in {self._best_path()}"
        log.info(message)
        return VideoTrainResult("finished", self.iteration, self.max_iter, last, self._best_path(), self.best,
                                message)

    def _plot(self) -> None:
        metrics = self.out_dir / "metrics.csv" if self.stage == "joint" else None
        plot_curves(self.out_dir / "losses.csv", metrics, self.out_dir / "losses.png")

    def _open_logs(self) -> None:
        if self._logs_open:
            return
        self.loss_log, self.metric_log, self.tb = open_run_logs(
            self.out_dir, self.loss_fields, self.metric_fields, self.iteration, self.config.tensorboard)
        self._logs_open = True

    def _best_path(self) -> Path | None:
        path = self.out_dir / "best.pt"
        return path if self.best is not None and path.is_file() else None

    def _loop(self) -> None:
        cfg = self.config
        if self.iteration >= self.max_iter:
            log.info("nothing to do: the run already has %d of %d iterations", self.iteration, self.max_iter)
            return
        if self.iteration == 0:
            self.warm_up()
        kwargs: dict[str, Any] = {}
        if cfg.num_workers > 0:
            kwargs = {"worker_init_fn": worker_init, "prefetch_factor": 2}
        loader = DataLoader(self.batches(), batch_size=None, sampler=range(self.iteration, self.max_iter),
                            num_workers=cfg.num_workers, collate_fn=_identity,
                            pin_memory=self.device.type == "cuda", **kwargs)
        bar = tqdm(total=self.max_iter, initial=self.iteration, desc=f"train-video {self.stage}",
                   dynamic_ncols=True, disable=not (self.show_progress and _tty()))
        self.set_train_mode()
        try:
            for batch in loader:
                info = self.step(batch)
                self._log_step(info, bar)
                if self.nonfinite >= cfg.max_nonfinite:
                    raise TrainingDiverged(self._divergence_message())
                self._periodic()
                for callback in self.callbacks:
                    callback(self, info)
        finally:
            bar.close()

    def step(self, batch: Any) -> VideoStepInfo:
        """One optimizer step on the sum of this iteration's losses (skipped when non-finite)."""
        it = self.iteration
        lr = self.schedule(it)
        for group in self.optimizer.param_groups:
            group["lr"] = lr * group.get("lr_mult", 1.0)
        self.optimizer.zero_grad(set_to_none=True)
        try:
            losses = self.compute_losses(batch, it)
            values = {k: float(v.detach()) for k, v in losses.items()}
        except RuntimeError:
            # NaN weights can make a loss op raise (BCE range check) instead of returning NaN.
            if all(bool(torch.isfinite(p).all()) for p in self.params):
                raise
            losses, values = {}, {k: math.nan for k in self.loss_fields if k not in ("iteration", "epoch", "lr",
                                                                                      "seconds")}
        stepped = False
        if math.isfinite(values.get("total", math.nan)):
            losses["total"].backward()
            if _grads_finite(self.optimizer):
                self.optimizer.step()
                stepped = True
        self.iteration += 1
        self.nonfinite = 0 if stepped else self.nonfinite + 1
        if not stepped:
            log.warning("iteration %d: non-finite loss or gradients, step skipped (%d in a row)", it, self.nonfinite)
        return VideoStepInfo(self.iteration, it // self.iters_per_epoch, lr, values, not stepped)

    def _log_step(self, info: VideoStepInfo, bar: tqdm) -> None:
        row = {"iteration": info.iteration - 1, "epoch": info.epoch, "lr": info.lr, **info.losses,
               "seconds": time.perf_counter() - self._start}
        self.loss_log.write(row)
        self.tb.scalars({**info.losses, "lr": info.lr}, info.iteration - 1, "train")
        bar.set_postfix({k: f"{v:.3f}" for k, v in info.losses.items()}, refresh=False)
        bar.update(1)
        if bar.disable and (info.iteration % self.config.log_every == 0 or info.iteration == self.max_iter):
            rate = (time.perf_counter() - self._start) / max(1, info.iteration)
            parts = " ".join(f"{k} {v:.4f}" for k, v in info.losses.items())
            log.info("it %d/%d lr %.2e | %s | %.2f s/it", info.iteration, self.max_iter, info.lr, parts, rate)

    def _periodic(self) -> None:
        cfg, it = self.config, self.iteration
        due = self.has_validation() and ((cfg.val_every > 0 and it % cfg.val_every == 0) or it == self.max_iter)
        if due:
            self.validate()
        if (due or (cfg.save_every and it % cfg.save_every == 0)) and self.nonfinite == 0:
            self.save("last.pt")

    def validate(self) -> dict[str, Any] | None:
        """Run the stage's validation, log it, keep ``best.pt``; None without a validation set."""
        if not self.has_validation():
            return None
        self._open_logs()
        row, score = self.evaluate()
        row = {"iteration": self.iteration, "epoch": (self.iteration - 1) // self.iters_per_epoch, **row}
        self.metric_log.write(row)
        self.tb.scalars({k: v for k, v in row.items() if isinstance(v, float)}, self.iteration, "val")
        better = self.best is None or (score > self.best if self.higher_is_better else score < self.best)
        if better and math.isfinite(score):
            self.best = score
            self.save("best.pt", with_train_state=False)
        self.set_train_mode()
        return row

    def _divergence_message(self) -> str:
        where = (f"Last good checkpoint: {self.last_saved[0]} (iteration {self.last_saved[1]})."
                 if self.last_saved else "No checkpoint was saved yet.")
        return (f"Loss diverged at iteration {self.iteration} ({self.nonfinite} consecutive non-finite losses; "
                f"those steps were skipped). Try a 10x smaller --lr or a longer warm-up. {where}")


# ----------------------------------------------------------------------------- stage 3 data
class JointImageSet:
    """A COCO-format image dataset seen through the video model's classes (spec 12.6): classes are
    matched by name (``rename`` maps COCO names to YouTube-VIS ones, e.g. car -> sedan),
    annotations of other classes are dropped and only images with a shared non-crowd object kept."""

    def __init__(self, dataset: Any, class_names: Sequence[str], rename: dict[str, str] | None = None) -> None:
        rename = COCO_TO_YTVIS if rename is None else rename
        wanted = {name: i for i, name in enumerate(class_names)}
        self.dataset = dataset
        self.class_names = tuple(class_names)
        self.label_map = np.array([wanted.get(rename.get(n, n), -1) for n in dataset.class_names], np.int64)
        if not (self.label_map >= 0).any():
            raise DatasetError(f"{getattr(dataset, 'ann_file', 'joint dataset')}: none of its classes "
                               f"{list(dataset.class_names)[:6]} is a video class {list(class_names)[:6]}")
        shared = {cid for cid, label in zip(dataset.category_ids, self.label_map) if label >= 0}
        self.indices = [i for i in range(len(dataset))
                        if any(a.get("category_id") in shared and not a.get("iscrowd", 0)
                               for a in dataset.annotations(i))]
        if not self.indices:
            raise DatasetError(f"{getattr(dataset, 'ann_file', 'joint dataset')}: no image has an object of a "
                               "class shared with the video dataset")

    @property
    def ann_file(self) -> Any:
        return getattr(self.dataset, "ann_file", None)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> Sample:
        s = self.dataset[self.indices[index]]
        labels = self.label_map[s.labels] if len(s) else s.labels
        keep = labels >= 0
        return Sample(s.image, s.boxes[keep], labels[keep], s.masks[keep], s.crowd[keep], s.image_id, s.path)


@dataclass
class VideoBatch:
    """One stage-3 iteration: annotated frames, their reference frames (same augmentation), the
    annotated frames' targets, the reference offsets in raw frames, and an optional image batch."""

    images: torch.Tensor  # [B,3,H,W]
    refs: torch.Tensor  # [B,3,H,W]
    targets: list[Targets]
    offsets: list[int]
    joint_images: torch.Tensor | None = None
    joint_targets: list[Targets] | None = None


class VideoBatches(Dataset):
    """Iteration -> :class:`VideoBatch`, a pure function of (seed, iteration): one sample per video
    and epoch (``images_per_video=1``), videos in a seeded permutation per epoch; each sample draws
    from ``default_rng([seed, epoch, video, repeat])`` (annotated frame, offset, augmentation);
    a sample whose augmentation leaves no object is redrawn from another video."""

    def __init__(self, videos: Any, augmenter: Augmenter, batch_size: int, iters_per_epoch: int, max_iter: int,
                 seed: int = 0, offset_range: tuple[int, int] = (2, 5), joint: Any = None,
                 joint_batch_size: int | None = None) -> None:
        self.videos = videos
        self.augmenter = augmenter
        self.seed = int(seed)
        self.offset_range = tuple(offset_range)
        self.max_iter = max_iter
        self.sampler = TrainBatchSampler(videos.num_videos, batch_size, iters_per_epoch, max_iter, seed=seed)
        self.joint = None
        if joint is not None:
            jb = joint_batch_size or batch_size
            self.joint = TrainDataset(joint, augmenter, seed=self.seed + 1)
            self.joint_sampler = TrainBatchSampler(len(joint), jb, max(1, len(joint) // jb), max_iter, seed=seed + 1)

    def __len__(self) -> int:
        return self.max_iter

    def pair(self, epoch: int, index: int, repeat: int) -> tuple[AugmentedSample, AugmentedSample, int]:
        rng = np.random.default_rng([self.seed, epoch, index, repeat])
        tried = []
        for _ in range(MAX_RESAMPLES):
            sample, ref, offset = self.videos.sample_pair(index, rng, self.offset_range)
            frames = self.augmenter.augment_frames([sample, ref], rng)
            if frames is not None:
                return frames[0], frames[1], offset
            tried.append(index)
            index = int(rng.integers(self.videos.num_videos))
        raise DatasetError(f"{len(tried)} consecutive video samples (videos {tried[:5]}, ...) had no usable object "
                           "after augmentation: check the annotations with `yolactedge data-check`")

    def __getitem__(self, iteration: int) -> VideoBatch:
        items = [self.pair(k.epoch, k.index, k.repeat) for k in self.sampler.batch(int(iteration))]
        images, targets = collate([a for a, _, _ in items])
        refs = torch.from_numpy(np.stack([r.image for _, r, _ in items]))
        batch = VideoBatch(images, refs, targets, [o for _, _, o in items])
        if self.joint is not None:
            batch.joint_images, batch.joint_targets = collate(
                [self.joint[k] for k in self.joint_sampler.batch(int(iteration))])
        return batch


# ----------------------------------------------------------------------------- stage 3 trainer
class VideoTrainer(VideoStageTrainer):
    """Stage 3: joint fine-tuning on YouTube-VIS-format data (module docstring).

    ``train_set``/``val_set``: ``YTVISDataset`` (all raw frames on disk); ``joint_set``: an
    optional COCO-format dataset (e.g. ``CocoDataset``) mixed in every iteration, classes matched
    by name (see :class:`JointImageSet`). ``init``: the stage-2 checkpoint (``config.init``), or
    ``model_config`` (architecture, random weights) without one. The model's classes are the
    video dataset's.
    """

    stage = "joint"
    trainable = JOINT_TRAINABLE
    loss_fields = ("iteration", "epoch", "lr", "box", "class", "mask", "semantic", "compute", "warp", "fm", "distill",
                   "joint", "total", "seconds")
    metric_fields = ("iteration", "epoch", "mask_AP", "box_AP", "mask_AP_keyframe", "mask_AP_warped", "videos",
                     "seconds")
    higher_is_better = True

    def __init__(self, config: VideoTrainConfig, train_set: Any, val_set: Any = None, *, joint_set: Any = None,
                 model_config: ModelConfig | str | None = None, flow: dict[str, Any] | None = None,
                 input_size: tuple[int, int] | None = None, device: str | torch.device = "auto",
                 callbacks: Sequence[Callable] = (), show_progress: bool = True,
                 _resume: Checkpoint | None = None) -> None:
        super().__init__(config, device=device, callbacks=callbacks, show_progress=show_progress)
        if train_set is None or train_set.num_videos == 0:
            raise DatasetError("the video training set has no videos")
        if val_set is not None and tuple(val_set.class_names) != tuple(train_set.class_names):
            raise DatasetError(f"training and validation categories differ: {list(train_set.class_names)[:6]} vs "
                               f"{list(val_set.class_names)[:6]}")
        self.train_set, self.val_set = train_set, val_set
        classes = tuple(train_set.class_names)
        init = None
        if _resume is not None:
            if tuple(_resume.config.class_names) != classes:
                raise CheckpointError("cannot resume: the checkpoint's classes differ from the dataset's")
            arch = _resume.config
        else:
            init = self._init_checkpoint()
            arch = self._architecture(init, model_config, classes, input_size, flow)
        self.joint_set = JointImageSet(joint_set, classes) if joint_set is not None else None
        self._build(arch, init, _resume, train_set.num_videos)
        self.loss_fn = YolactLoss(arch.num_classes, use_semantic=arch.head.semantic_seg)
        kind = config.fm_loss
        if kind == "auto":
            kind = "cosine" if getattr(self.model, "spa", None) is not None else "none"
        self.fm_kind = kind

    def _architecture(self, init: Checkpoint | None, model_config: ModelConfig | str | None,
                      classes: tuple[str, ...], input_size: tuple[int, int] | None,
                      flow: dict[str, Any] | None = None) -> ModelConfig:
        if init is not None:
            arch = init.config
            theirs = tuple(arch.class_names)
            if len(theirs) != len(classes) and not self.config.finetune:
                raise CheckpointError(f"{self.config.init} was trained for {len(theirs)} classes, the video dataset "
                                      f"has {len(classes)}: pass finetune=True (--finetune) to re-initialise the "
                                      "class heads")
            if theirs != classes and len(theirs) == len(classes):
                log.warning("%s has the same number of classes but different names; its class heads are kept",
                            self.config.init)
        elif model_config is not None:
            arch = get_config(model_config) if isinstance(model_config, str) else model_config
        else:
            raise ValueError("pass an init checkpoint (config.init, the stage-2 model) or a model_config")
        arch = add_flow(arch, flow) if not arch.is_video or flow else arch
        changes: dict[str, Any] = {"class_names": classes}
        if input_size is not None:
            changes["preprocess"] = {"input_size": (int(input_size[0]), int(input_size[1]))}
        return arch.replace(**changes)

    def data_paths(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for split, ds in (("train", self.train_set), ("val", self.val_set)):
            if ds is not None:
                out[split] = {"frames": str(ds.frames_root), "annotations": str(ds.ann_file)}
        if self.joint_set is not None and hasattr(self.joint_set.dataset, "image_dir"):
            out["joint"] = {"images": str(self.joint_set.dataset.image_dir),
                            "annotations": str(self.joint_set.ann_file)}
        return out

    def fresh_warmup_iters(self) -> int:
        """``VideoTrainConfig.fresh_warmup_iters``; None: 3000 for a from-scratch fresh top, else 0."""
        return int(self._by_fresh_kind(self.config.fresh_warmup_iters, 3000, 0))

    def warm_up(self) -> None:
        iters = self.fresh_warmup_iters()
        if iters == 0 or getattr(self.model, "fresh_top", None) is None:
            return
        cfg = self.config
        self.set_train_mode()
        warm_up_fresh_top(self.model, self.train_set, self.model_config.preprocess, iters=iters,
                          batch_size=cfg.batch_size, lr=cfg.fresh_warmup_lr, offset_range=cfg.offset_range,
                          seed=cfg.seed, autocast=self.autocast, prepare=self.to_device,
                          show_progress=self.show_progress and _tty())

    def batches(self) -> VideoBatches:
        cfg = self.config
        return VideoBatches(self.train_set, Augmenter(cfg.augment, self.model_config.preprocess), cfg.batch_size,
                            self.iters_per_epoch, self.max_iter, cfg.seed, cfg.offset_range, self.joint_set,
                            cfg.joint_batch_size)

    def compute_losses(self, batch: VideoBatch, iteration: int) -> dict[str, torch.Tensor]:
        model, dev = self.model, self.device
        images, refs = self.to_device(batch.images), self.to_device(batch.refs)
        targets = [t.to(dev) for t in batch.targets]
        generator = torch.Generator().manual_seed(step_seed(self.config.seed, iteration, 0))
        with self.autocast():
            with torch.no_grad():  # backbone and phase-1 FPN are frozen
                ref_feats, ref_lateral = model.keyframe_features(refs)
                feats, lateral, c3 = model.keyframe_features_and_c3(images)
            # "compute": the annotated frame through the full network.
            compute_out = float_outputs(training_outputs(model, feats))
            # "warp": the annotated frame as a non-keyframe of the reference frame. Its C3 lateral is the
            # one of the full pass above (the partial backbone computes exactly the same tensor). No
            # cached pre-conv: the flow pre-conv is trained on both inputs, as the original.
            state = KeyframeState(feats=tuple(ref_feats), lateral=ref_lateral)
            flows = model.estimate_flow(lateral, state)
            aux: dict = {}
            m3, w4, w5 = model.partial_feature_transform(lateral, state, flows, c3=c3, aux=aux)
            warp_out = float_outputs(training_outputs(model, (m3, w4, w5)))
            joint_out = None
            if batch.joint_images is not None:
                with torch.no_grad():
                    joint_feats, _ = model.keyframe_features(self.to_device(batch.joint_images))
                joint_out = float_outputs(training_outputs(model, joint_feats))
        compute = self.loss_fn(compute_out, targets, generator=generator)
        warp = self.loss_fn(warp_out, targets, generator=generator)
        if self.config.warp_alpha != 1.0:
            warp = {k: v * self.config.warp_alpha for k, v in warp.items()}
        if self.fm_kind != "none" and self.config.fm_alpha > 0:  # float32: cosines of near-equal features
            fm = feature_matching_loss((feats[1].float(), feats[2].float()), (w4.float(), w5.float()),
                                       model.fpn_phase_2.pred_layers, self.config.fm_loc, self.fm_kind)
            fm = fm * self.config.fm_alpha
        else:
            fm = torch.zeros((), device=dev)
        if "fresh_m5" in aux and self.config.fresh_alpha > 0:
            fm = fm + self.config.fresh_alpha * fresh_estimate_loss(
                (feats[1], feats[2]), (aux.get("fresh_m4"), aux["fresh_m5"]), model.fpn_phase_2.pred_layers)
        distill = torch.zeros((), device=dev)
        if self.config.distill_alpha > 0:
            distill = output_distillation_loss(compute_out, warp_out) * self.config.distill_alpha
        joint = None
        if joint_out is not None:
            joint = self.loss_fn(joint_out, [t.to(dev) for t in batch.joint_targets], generator=generator)
        parts = [compute, warp] + ([joint] if joint is not None else [])
        out = {k: sum(p[k] for p in parts) for k in ("box", "class", "mask", "semantic")}
        zero = images.new_zeros(())
        out.update(compute=compute["total"], warp=warp["total"], fm=fm, distill=distill,
                   joint=joint["total"] if joint is not None else zero)
        out["total"] = compute["total"] + warp["total"] + fm + distill + (joint["total"] if joint is not None else zero)
        return out

    def has_validation(self) -> bool:
        return self.val_set is not None

    def evaluate(self) -> tuple[dict[str, Any], float]:
        from yolactedge.eval.video_eval import evaluate_video

        start = time.perf_counter()
        result = evaluate_video(self.model, self.val_set, keyframe_interval=self.config.val_keyframe_interval,
                                max_videos=self.config.val_max_items)
        seconds = time.perf_counter() - start
        warped = [result[d]["segm"]["AP"] for d in result.distances if d > 0]
        row = {"mask_AP": float(result["all"]["segm"]["AP"]), "box_AP": float(result["all"]["bbox"]["AP"]),
               "mask_AP_keyframe": float(result[0]["segm"]["AP"]) if 0 in result else math.nan,
               "mask_AP_warped": float(np.mean(warped)) if warped else math.nan,
               "videos": result.num_videos, "seconds": round(seconds, 2)}
        log.info("val @ it %d: mask AP %.2f (keyframes %.2f, warped %.2f), box AP %.2f on %d videos",
                 self.iteration, row["mask_AP"], row["mask_AP_keyframe"], row["mask_AP_warped"], row["box_AP"],
                 row["videos"])
        return row, row["mask_AP"]
