"""The training loop: SGD on ``YolactLoss``, resumable bit-for-bit, safe on Ctrl-C and divergence.

Exact resume: everything random is a pure function of (seed, iteration): the data order and the
augmentation (``train.data``), the LR (``train.schedule``) and the mask-loss subsampling
(a generator seeded per iteration). ``last.pt`` holds weights, optimizer (momentum), GradScaler,
iteration and the ``TrainConfig``, so ``N + resume N`` iterations give the weights of ``2N``.
"""
from __future__ import annotations

import logging
import math
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from yolactedge.checkpoints import (CheckpointError, load_imagenet_backbone, load_model_weights, read_checkpoint,
                                    save_checkpoint)
from yolactedge.checkpoints.format import Checkpoint
from yolactedge.config.schema import ModelConfig
from yolactedge.data.augment import Augmenter
from yolactedge.model import build_model
from yolactedge.train import ddp
from yolactedge.train.config import TrainConfig, build_model_config
from yolactedge.train.data import TrainBatchSampler, TrainDataset, check_datasets, iterate_loader, make_loader
from yolactedge.train.logging_utils import LOSS_FIELDS, METRIC_FIELDS, open_run_logs, plot_curves
from yolactedge.train.losses import YolactLoss
from yolactedge.train.precision import autocast, bf16_dtype, float_outputs
from yolactedge.train.schedule import LRSchedule
from yolactedge.train.validate import ValidationResult, evaluate_model

log = logging.getLogger(__name__)

LOSS_KEYS = ("box", "class", "mask", "semantic", "total")
STATE_VERSION = 1
DEFAULT_PRESET = "yolact_edge_config"
# Fields that may change when resuming without breaking exactness (where files go, speed, logging).
RUNTIME_FIELDS = ("out_dir", "num_workers", "tensorboard", "plot", "log_every", "val_max_images", "save_every",
                  "val_every", "val_unit")


class TrainingDiverged(RuntimeError):
    """``max_nonfinite`` consecutive non-finite losses: training stopped, the message says why and what to do."""


@dataclass
class StepInfo:
    """What a callback sees after each iteration (``iteration`` counts completed iterations)."""

    iteration: int
    epoch: int
    lr: float
    losses: dict[str, float]
    skipped: bool


@dataclass
class TrainResult:
    status: str  # "finished" or "interrupted"
    iteration: int
    max_iter: int
    last: Path | None
    best: Path | None
    best_mask_ap: float | None
    message: str


Callback = Callable[["Trainer", StepInfo], None]


def write_run_checkpoint(trainer: Any, name: str, with_train_state: bool = True) -> Path:
    """``trainer.out_dir/name`` written atomically with weights, config, metadata and (optionally) the
    resumable train state; remembers where ``last.pt`` went. Shared by the image and video trainers."""
    path = trainer.out_dir / name
    save_checkpoint(path, trainer.model, trainer.model_config,
                    train_state=trainer.train_state() if with_train_state else None, metadata=trainer.metadata())
    if name == "last.pt":
        trainer.last_saved = (path, trainer.iteration)
    return path


def step_seed(seed: int, iteration: int, rank: int) -> int:
    """Seed of the per-iteration generator (mask-loss subsampling), independent of history."""
    return int(np.random.SeedSequence([seed, iteration, rank]).generate_state(1)[0])


def _bn_layers(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


class Trainer:
    """Train a YolactEdge image model on a COCO-format dataset.

    ``model_config``: a preset name or ``ModelConfig`` for the architecture (class names are always
    replaced by the dataset's); default: the ``init`` checkpoint's architecture, else
    ``yolact_edge_config``. ``callbacks`` run after every iteration (raising ``KeyboardInterrupt``
    in one behaves like Ctrl-C). To continue a run use :meth:`resume`.
    """

    def __init__(self, config: TrainConfig, train_set: Any, val_set: Any = None,
                 model_config: ModelConfig | str | None = None, *, device: str | torch.device = "auto",
                 callbacks: Sequence[Callback] = (), show_progress: bool = True,
                 _resume: Checkpoint | None = None) -> None:
        self.config = config
        self.dist = ddp.setup(device)
        self.device = self.dist.device
        self.train_set, self.val_set = train_set, val_set
        self.callbacks = list(callbacks)
        self.show_progress = show_progress
        self.out_dir = Path(config.out_dir)
        check_datasets(train_set, val_set)
        if _resume is not None and tuple(_resume.config.class_names) != tuple(train_set.class_names):
            raise CheckpointError(f"cannot resume: the checkpoint's classes {list(_resume.config.class_names)[:5]} "
                                  f"differ from the dataset's {list(train_set.class_names)[:5]}; resume on the same "
                                  "dataset, or start a new run with init=<checkpoint> finetune=True")
        init_ckpt = None if _resume is not None else self._read_init(model_config)
        base = _resume.config if _resume is not None else (
            model_config or (init_ckpt.config if init_ckpt is not None else DEFAULT_PRESET))
        self.model_config = build_model_config(base, tuple(train_set.class_names))
        if self.model_config.is_video:
            raise ValueError(f"{self.model_config.name} is a video preset: this trainer trains image models (stage 1 "
                             "of the video recipe); use the matching image preset, e.g. yolact_edge_youtubevis_config")
        with torch.random.fork_rng(devices=[]):  # initial weights are a function of the seed alone
            torch.manual_seed(config.seed)
            self.model = build_model(self.model_config)
        if _resume is not None:
            self.model.load_state_dict(_resume.state_dict)
        else:
            self._init_weights(init_ckpt)
        self.model.to(self.device)
        if config.channels_last:  # NHWC convolutions: ~1.2x faster training on CPU (oneDNN)
            self.model.to(memory_format=torch.channels_last)
        if config.freeze_bn:
            for layer in _bn_layers(self.model):
                for p in layer.parameters():
                    p.requires_grad_(False)
        advice = ddp.batchnorm_advice(config.batch_size, self.dist.world_size, config.freeze_bn, config.sync_bn)
        if advice and self.dist.is_main:
            log.warning(advice)
        # Always (not only under DDP), so the optimizer's parameter list, and thus a checkpoint's
        # optimizer state, is the same for any number of processes.
        unused = ddp.freeze_unused_parameters(self.model, self.model_config.input_size)
        if unused and self.dist.is_main:
            log.info("%d parameter tensors are never used by the forward pass (e.g. %s): frozen", len(unused),
                     unused[0])
        self.wrapped = ddp.wrap(self.model, self.dist, config.sync_bn)
        self.model = ddp.unwrap(self.wrapped)
        params = [p for p in self.model.parameters() if p.requires_grad]
        # Weight decay on every trainable tensor, BatchNorm and biases included, as the original.
        if config.optimizer == "adamw":
            self.optimizer: torch.optim.Optimizer = torch.optim.AdamW(params, lr=config.lr,
                                                                      weight_decay=config.weight_decay)
        else:
            self.optimizer = torch.optim.SGD(params, lr=config.lr, momentum=config.momentum,
                                             weight_decay=config.weight_decay)
        self.loss_fn = YolactLoss(self.model_config.num_classes, use_semantic=self.model_config.head.semantic_seg)
        self.amp_dtype, self.scaler = self._setup_amp()
        size = len(train_set)
        self.iters_per_epoch = config.iters_per_epoch(size, self.dist.world_size)
        self.max_iter = config.total_iters(size, self.dist.world_size)
        self.schedule = LRSchedule.from_config(config, self.max_iter, self.dist.world_size)
        self.iteration = 0
        self.nonfinite = 0
        self.best_mask_ap: float | None = None
        self.last_saved: tuple[Path, int] | None = None
        if _resume is not None:
            self._load_train_state(_resume)

    # -- construction helpers ------------------------------------------------------------------
    @classmethod
    def resume(cls, path: str | Path, train_set: Any, val_set: Any = None, *, device: str | torch.device = "auto",
               callbacks: Sequence[Callback] = (), show_progress: bool = True, **overrides: Any) -> "Trainer":
        """Continue a run from ``last.pt``/``interrupt.pt``. ``overrides``: runtime fields (out_dir,
        num_workers, logging...) keep the resume exact; ``epochs``/``max_iter`` extend the run (the
        schedule then differs from the original run's)."""
        ckpt = read_checkpoint(path)
        state = ckpt.train_state
        if not state or "train_config" not in state:
            raise CheckpointError(f"{path}: has no training state (a weights-only checkpoint such as best.pt); "
                                  "start a new run from its weights with init=... instead")
        config = TrainConfig.from_dict(state["train_config"])
        bad = sorted(set(overrides) - set(RUNTIME_FIELDS) - {"epochs", "max_iter"})
        if bad:
            raise ValueError(f"cannot change {bad} when resuming (the run would no longer be the same run); "
                             "start a new run with init=<checkpoint> to change them")
        if {"epochs", "max_iter"} & set(overrides):
            log.warning("changing the run length on resume changes the LR schedule: not an exact resume")
        if "out_dir" not in overrides:
            overrides["out_dir"] = str(Path(path).parent)
        return cls(config.replace(**overrides), train_set, val_set, device=device, callbacks=callbacks,
                   show_progress=show_progress, _resume=ckpt)

    def _read_init(self, model_config: ModelConfig | str | None) -> Checkpoint | None:
        if not self.config.init:
            return None
        try:
            return read_checkpoint(self.config.init)
        except CheckpointError:
            # A plain original state dict has no config: its architecture is the one asked for.
            arch = model_config or DEFAULT_PRESET
            return read_checkpoint(self.config.init, config=arch)

    def _init_weights(self, init_ckpt: Checkpoint | None) -> None:
        cfg = self.config
        if init_ckpt is not None:
            theirs, ours = tuple(init_ckpt.config.class_names), self.model_config.class_names
            if len(theirs) != len(ours) and not cfg.finetune:
                raise CheckpointError(
                    f"{cfg.init} was trained for {len(theirs)} classes ({', '.join(theirs[:4])}...), the dataset has "
                    f"{len(ours)} ({', '.join(ours[:4])}...): pass finetune=True (--finetune) to re-initialise the "
                    "class and semantic heads")
            if theirs != ours and len(theirs) == len(ours) and self.dist.is_main:
                log.warning("%s has the same number of classes but different names; its class heads are kept "
                            "(class i of the checkpoint becomes %r ...)", cfg.init, ours[0])
            if cfg.pretrained_backbone and self.dist.is_main:
                log.warning("both init and pretrained_backbone given: the init checkpoint's backbone is used")
            load_model_weights(self.model, init_ckpt, finetune=cfg.finetune)
            if self.dist.is_main:
                log.info("initialised from %s", cfg.init)
        elif cfg.pretrained_backbone:
            load_imagenet_backbone(self.model.backbone, cfg.pretrained_backbone, self.model_config.backbone.name)
        elif self.dist.is_main:
            log.warning("training from scratch (no pretrained_backbone / init): expect much lower accuracy than "
                        "with an ImageNet backbone (e.g. torchvision's resnet50-19c8e357.pth)")

    def _setup_amp(self) -> tuple[torch.dtype | None, Any]:
        mode = self.config.amp
        if mode == "off":
            return None, None
        if self.device.type == "cuda":
            if mode == "bf16":
                return torch.bfloat16, None
            return torch.float16, torch.amp.GradScaler("cuda")
        if mode == "bf16" and self.device.type == "cpu":
            return bf16_dtype(self.device, warn=self.dist.is_main), None
        if self.dist.is_main:
            log.warning("amp=%s needs CUDA (on CPU only bf16 is supported); training in float32 on %s",
                        mode, self.device)
        return None, None

    # -- state ---------------------------------------------------------------------------------
    def train_state(self) -> dict[str, Any]:
        """Everything besides the weights that an exact resume needs (plain types and tensors only)."""
        np_state = np.random.get_state()
        return {
            "version": STATE_VERSION,
            "iteration": self.iteration,
            "epoch": self.iteration // self.iters_per_epoch,
            "max_iter": self.max_iter,
            "iters_per_epoch": self.iters_per_epoch,
            "world_size": self.dist.world_size,
            "dataset_size": len(self.train_set),
            "train_config": self.config.to_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "best_mask_ap": self.best_mask_ap,
            "nonfinite": self.nonfinite,
            "rng": {"torch": torch.get_rng_state(), "python": random.getstate(),
                    "numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]]},
        }

    def _load_train_state(self, ckpt: Checkpoint) -> None:
        state = ckpt.train_state or {}
        if state.get("world_size", 1) != self.dist.world_size or state.get("dataset_size") != len(self.train_set):
            log.warning("resuming with a different world size or dataset size (%s/%s vs %s/%s): the data order "
                        "and the schedule differ from the original run", state.get("world_size"),
                        state.get("dataset_size"), self.dist.world_size, len(self.train_set))
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.iteration = int(state["iteration"])
        self.best_mask_ap = state.get("best_mask_ap")
        self.nonfinite = int(state.get("nonfinite", 0))
        rng = state.get("rng") or {}
        if "torch" in rng:
            torch.set_rng_state(rng["torch"])
        if "python" in rng:
            random.setstate(_tuplify(rng["python"]))
        if "numpy" in rng:
            name, keys, *rest = rng["numpy"]
            np.random.set_state((name, np.asarray(keys, np.uint32), *rest))

    def metadata(self) -> dict[str, Any]:
        data = {}
        for split, ds in (("train", self.train_set), ("val", self.val_set)):
            if ds is not None and hasattr(ds, "ann_file"):
                data[split] = {"images": str(getattr(ds, "image_dir", "")), "annotations": str(ds.ann_file)}
        return {"kind": "training", "iteration": self.iteration, "epoch": self.iteration // self.iters_per_epoch,
                "best_mask_ap": self.best_mask_ap, "data": data}

    def save(self, name: str, with_train_state: bool = True) -> Path | None:
        """Atomic checkpoint in ``out_dir`` (rank 0 only; other ranks return None)."""
        if not self.dist.is_main:
            return None
        return write_run_checkpoint(self, name, with_train_state)

    # -- the loop ------------------------------------------------------------------------------
    def train(self) -> TrainResult:
        """Run to ``max_iter``. Ctrl-C writes ``interrupt.pt`` and returns status "interrupted";
        divergence raises :class:`TrainingDiverged`."""
        main = self.dist.is_main
        if main:
            self._open_logs()
            mc = self.model_config
            log.info("training %s (%s, %d classes, input %dx%d) on %s x%d: %d iterations (%d per epoch, global "
                     "batch %d), lr %.3g", mc.name, mc.backbone.name, len(mc.class_names), *mc.input_size,
                     self.device, self.dist.world_size, self.max_iter, self.iters_per_epoch,
                     self.config.global_batch(self.dist.world_size), self.schedule.lr)
        self._start = time.perf_counter()
        try:
            self._loop()
        except TrainingDiverged:
            if main and self.config.plot:  # the curves show where it went wrong
                plot_curves(self.out_dir / "losses.csv", self.out_dir / "metrics.csv", self.out_dir / "losses.png")
            raise
        except KeyboardInterrupt:
            path = self.save("interrupt.pt")
            message = (f"Interrupted at iteration {self.iteration}/{self.max_iter}; saved {path}. "
                       f"Resume with: yolactedge train --resume {path}")
            if main:
                log.warning(message)
            return TrainResult("interrupted", self.iteration, self.max_iter, path, self._best_path(),
                               self.best_mask_ap, message)
        finally:
            if main:
                self.tb.close()
                self._logs_open = False
        ddp.broadcast_buffers(self.model, self.dist)
        last = self.save("last.pt")
        if main and self.config.plot:
            plot_curves(self.out_dir / "losses.csv", self.out_dir / "metrics.csv", self.out_dir / "losses.png")
        message = f"Finished {self.iteration} iterations; weights in {last}"
        if self._best_path() is not None:
            message += f", best (mask AP {self.best_mask_ap:.2f}) in {self._best_path()}"
        if main:
            log.info(message)
        return TrainResult("finished", self.iteration, self.max_iter, last, self._best_path(),
                           self.best_mask_ap, message)

    def _open_logs(self) -> None:
        """CSV/TensorBoard logs; rows from a previous run at or after the resume point are dropped."""
        if getattr(self, "_logs_open", False):
            return
        self.loss_log, self.metric_log, self.tb = open_run_logs(
            self.out_dir, LOSS_FIELDS, METRIC_FIELDS, self.iteration, self.config.tensorboard)
        self._logs_open = True

    def _best_path(self) -> Path | None:
        path = self.out_dir / "best.pt"
        return path if self.best_mask_ap is not None and path.is_file() else None

    def _loop(self) -> None:
        cfg = self.config
        if self.iteration >= self.max_iter:
            log.info("nothing to do: the run already has %d of %d iterations (pass epochs/max_iter to extend it)",
                     self.iteration, self.max_iter)
            return
        dataset = TrainDataset(self.train_set, Augmenter(cfg.augment, self.model_config.preprocess), cfg.seed)
        sampler = TrainBatchSampler(len(self.train_set), cfg.batch_size, self.iters_per_epoch, self.max_iter,
                                    self.iteration, cfg.seed, self.dist.rank, self.dist.world_size)
        loader = make_loader(dataset, sampler, cfg.num_workers, pin_memory=self.device.type == "cuda")
        bar = tqdm(total=self.max_iter, initial=self.iteration, desc="train", dynamic_ncols=True,
                   disable=not (self.dist.is_main and self.show_progress and _tty()))
        self._set_train_mode()
        try:
            for images, targets in iterate_loader(loader):
                info = self._step(images, targets)
                if self.dist.is_main:
                    self._log_step(info, bar)
                if self.nonfinite >= cfg.max_nonfinite:
                    raise TrainingDiverged(self._divergence_message())
                self._periodic()
                for callback in self.callbacks:
                    callback(self, info)
        finally:
            bar.close()

    def _set_train_mode(self) -> None:
        self.wrapped.train()
        if self.config.freeze_bn:
            for layer in _bn_layers(self.model):
                layer.eval()

    def _step(self, images: torch.Tensor, targets: list) -> StepInfo:
        it = self.iteration
        lr = self.schedule(it)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        images = images.to(self.device, non_blocking=True)
        if self.config.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        targets = [t.to(self.device) for t in targets]
        generator = torch.Generator().manual_seed(step_seed(self.config.seed, it, self.dist.rank))
        self.optimizer.zero_grad(set_to_none=True)
        out = None
        try:
            with autocast(self.device, self.amp_dtype):
                out = self.wrapped(images)
            # The loss (matching, OHEM, mask BCE) always runs in float32: low precision there costs
            # accuracy and buys nothing.
            losses = self.loss_fn(float_outputs(out), targets, generator=generator)
            values = torch.stack([losses[k].detach().float() for k in LOSS_KEYS])
        except torch.cuda.OutOfMemoryError as exc:
            raise _oom_error(exc, self.config, self.model_config) from exc
        except RuntimeError:
            # NaN network outputs can make a loss op raise (BCE range check) instead of returning NaN.
            if out is None or _outputs_finite(out):
                raise
            losses, values = None, torch.full((len(LOSS_KEYS),), math.nan, device=self.device)
        values = ddp.all_reduce_mean(values, self.dist)
        finite = bool(torch.isfinite(values).all())
        stepped = False
        if finite:  # every rank sees the same reduced values, so all of them skip or step together
            total = losses["total"]
            (self.scaler.scale(total) if self.scaler is not None else total).backward()
            if self.scaler is not None:
                self.scaler.step(self.optimizer)  # skips by itself on inf/NaN gradients (loss-scale search)
                self.scaler.update()
                stepped = True
            elif _grads_finite(self.optimizer):
                self.optimizer.step()
                stepped = True
        self.iteration += 1
        self.nonfinite = 0 if stepped else self.nonfinite + 1
        if not stepped and self.dist.is_main:
            log.warning("iteration %d: non-finite %s, step skipped (%d in a row)", it,
                        "loss" if not finite else "gradients", self.nonfinite)
        return StepInfo(self.iteration, it // self.iters_per_epoch, lr,
                        dict(zip(LOSS_KEYS, values.tolist())), not stepped)

    def _log_step(self, info: StepInfo, bar: tqdm) -> None:
        row = {"iteration": info.iteration - 1, "epoch": info.epoch, "lr": info.lr, **info.losses,
               "seconds": time.perf_counter() - self._start}
        self.loss_log.write(row)
        self.tb.scalars({**info.losses, "lr": info.lr}, info.iteration - 1, "train")
        short = {"box": "B", "class": "C", "mask": "M", "semantic": "S", "total": "T"}
        bar.set_postfix({short[k]: f"{v:.3f}" for k, v in info.losses.items()} | {"lr": f"{info.lr:.2e}"},
                        refresh=False)
        bar.update(1)
        if bar.disable and (info.iteration % self.config.log_every == 0 or info.iteration == self.max_iter):
            rate = (time.perf_counter() - self._start) / max(1, info.iteration)
            parts = " ".join(f"{k} {v:.3f}" for k, v in info.losses.items())
            log.info("it %d/%d ep %d lr %.2e | %s | %.2f s/it", info.iteration, self.max_iter, info.epoch + 1,
                     info.lr, parts, rate)

    def _periodic(self) -> None:
        cfg, it = self.config, self.iteration
        epoch_end = it % self.iters_per_epoch == 0
        due = False
        if self.val_set is not None:
            if cfg.val_unit == "epoch":
                due = cfg.val_every > 0 and epoch_end and (it // self.iters_per_epoch) % cfg.val_every == 0
            else:
                due = cfg.val_every > 0 and it % cfg.val_every == 0
            due = due or it == self.max_iter
        if due:
            self.validate()
        # During a non-finite streak last.pt keeps pointing at the last good step.
        if (due or (cfg.save_every and it % cfg.save_every == 0)) and self.nonfinite == 0:
            self.save("last.pt")

    def validate(self) -> ValidationResult | None:
        """Validation mAP on rank 0 (others wait); writes metrics.csv, best.pt and the plot."""
        result = None
        if self.dist.is_main:
            self._open_logs()
            result = evaluate_model(self.model, self.val_set, max_images=self.config.val_max_images,
                                    show_progress=self.show_progress and _tty())
            numbers = result.summary()
            epoch = (self.iteration - 1) // self.iters_per_epoch
            self.metric_log.write({"iteration": self.iteration, "epoch": epoch, **numbers,
                                   "images": result.num_images, "seconds": round(result.seconds, 2)})
            self.tb.scalars(numbers, self.iteration, "val")
            log.info("val @ it %d: box AP %.2f (AP50 %.2f), mask AP %.2f (AP50 %.2f) on %d images",
                     self.iteration, numbers["box_AP"], numbers["box_AP50"], numbers["mask_AP"],
                     numbers["mask_AP50"], result.num_images)
            if self.best_mask_ap is None or result.mask_ap > self.best_mask_ap:
                self.best_mask_ap = result.mask_ap
                self.save("best.pt", with_train_state=False)
            if self.config.plot:
                plot_curves(self.out_dir / "losses.csv", self.out_dir / "metrics.csv", self.out_dir / "losses.png")
        self._set_train_mode()
        ddp.barrier(self.dist)
        return result

    def _divergence_message(self) -> str:
        cfg = self.config
        if self.last_saved is not None:
            where = f"Last good checkpoint: {self.last_saved[0]} (iteration {self.last_saved[1]})."
        else:
            where = f"No checkpoint was saved yet (save_every={cfg.save_every})."
        return (
            f"Loss diverged at iteration {self.iteration} ({self.nonfinite} consecutive non-finite losses; "
            f"those steps were skipped). Common causes: learning rate too high for the batch size "
            f"(lr {self.schedule.lr:.3g} at global batch {cfg.global_batch(self.dist.world_size)}; try a 10x smaller "
            f"--lr or a longer warm-up), a per-GPU batch < 6 with BatchNorm (batch {cfg.batch_size}; use --freeze-bn "
            f"or --sync-bn), or degenerate boxes (< 4 px, zero width/height: run `yolactedge data-check`). {where}"
        )


def _grads_finite(optimizer: torch.optim.Optimizer) -> bool:
    grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
    return not grads or bool(torch.isfinite(torch.nn.utils.get_total_norm(grads)))


def _outputs_finite(out: Any) -> bool:
    return all(bool(torch.isfinite(t).all()) for t in out if isinstance(t, torch.Tensor))


def _tty() -> bool:
    try:
        return sys.stderr is not None and sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _tuplify(value: Any) -> Any:
    return tuple(_tuplify(v) for v in value) if isinstance(value, (list, tuple)) else value


def _oom_error(exc: BaseException, cfg: TrainConfig, model_cfg: ModelConfig) -> RuntimeError:
    peak = torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else math.nan
    total = torch.cuda.get_device_properties(0).total_memory / 2**30 if torch.cuda.is_available() else math.nan
    return RuntimeError(f"CUDA out of memory at batch {cfg.batch_size}, input {model_cfg.input_size} (peak "
                        f"{peak:.1f} of {total:.1f} GiB). Try --batch {max(1, cfg.batch_size // 2)}, a smaller "
                        f"--imgsz, or --amp fp16.")
