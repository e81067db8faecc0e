"""Stage 2 of the video recipe (spec 12.5): pre-train the flow network on FlyingChairs-format pairs.

Only ``flow_net`` and ``flow_net_pre_convs`` learn; everything else is frozen and in eval mode.
Per pair (``forward_flow`` of the original): both images, resized to the network input size
without augmentation, go through the partial backbone -> C3 lateral (frozen, so detached) ->
pre-conv -> ``FeatFlowNet(target=img1, source=img2, with_level1=True)``. The loss is F (spec
12.1): the average end-point error of each of the three predicted flows against the ground truth
converted to training units at the input size (``image_flow_to_training_units``) and bilinearly
resized, values unchanged, to the prediction's size; summed over the levels with weight 1.

Orientation: ground truth img1(p) ~ img2(p + flow(p)), and the network predicts the flow that
warps the source (img2) into the target (img1) geometry, which is the (current frame, keyframe)
orientation used at inference.

Validation reports the EPE in pixels of the original images for each level (the prediction is
upsampled to the image, its units converted back to pixels) next to the EPE of a zero flow, the
baseline any useful flow network must beat. ``best.pt`` keeps the lowest mean over the levels.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from yolactedge.checkpoints.format import Checkpoint
from yolactedge.config.presets import get_config
from yolactedge.config.schema import ModelConfig, PreprocessConfig
from yolactedge.data.augment import eval_transform
from yolactedge.data.errors import DatasetError
from yolactedge.model.outputs import KeyframeState
from yolactedge.train.data import TrainBatchSampler
from yolactedge.train.video_losses import (end_point_error, flow_loss, flow_targets, resize_flow,
                                           training_units_to_pixels)
from yolactedge.train.video_trainer import FLOW_TRAINABLE, VideoStageTrainer, VideoTrainConfig, add_flow

log = logging.getLogger(__name__)
NUM_LEVELS = 3


@dataclass
class FlowBatch:
    img1: torch.Tensor  # [B,3,H,W] network input (target / current frame)
    img2: torch.Tensor  # [B,3,H,W] (source / keyframe)
    target: torch.Tensor  # [B,2,H,W] ground truth in training units at the input size


def flow_to_tensor(flow_hw2: np.ndarray) -> torch.Tensor:
    """HxWx2 pixel flow (as ``FlyingChairsDataset`` returns it) -> [1,2,H,W] float32."""
    return torch.from_numpy(np.ascontiguousarray(flow_hw2, np.float32)).permute(2, 0, 1).unsqueeze(0)


def prepare_pair(img1: np.ndarray, img2: np.ndarray, flow_hw2: np.ndarray, preprocess: PreprocessConfig
                 ) -> tuple[np.ndarray, np.ndarray, torch.Tensor]:
    """One pair as the network and the loss see it: both images resized to the input size and
    normalised (no augmentation, as the original) and the ground truth in training units."""
    target = flow_targets(flow_to_tensor(flow_hw2), preprocess.input_size)[0]
    return eval_transform(img1, preprocess), eval_transform(img2, preprocess), target


class FlowBatches(Dataset):
    """Iteration -> :class:`FlowBatch`, a pure function of (seed, iteration): each epoch visits a
    seeded permutation of the pairs (``TrainBatchSampler``)."""

    def __init__(self, pairs: Any, preprocess: PreprocessConfig, batch_size: int, iters_per_epoch: int,
                 max_iter: int, seed: int = 0) -> None:
        if len(pairs) == 0:
            raise DatasetError("the flow training set has no pairs")
        self.pairs = pairs
        self.preprocess = preprocess
        self.max_iter = max_iter
        self.sampler = TrainBatchSampler(len(pairs), batch_size, iters_per_epoch, max_iter, seed=seed)

    def __len__(self) -> int:
        return self.max_iter

    def __getitem__(self, iteration: int) -> FlowBatch:
        items = [prepare_pair(*self.pairs[key.index], self.preprocess) for key in self.sampler.batch(int(iteration))]
        return FlowBatch(torch.from_numpy(np.stack([a for a, _, _ in items])),
                         torch.from_numpy(np.stack([b for _, b, _ in items])),
                         torch.stack([t for _, _, t in items]))


def flow_laterals(model: nn.Module, img1: torch.Tensor, img2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """C3 laterals of both images (partial backbone + ``lat_layers.2``), one batched pass, no grad."""
    with torch.no_grad():
        lateral = model.fpn_phase_1.lateral_c3(model.backbone.forward_partial(torch.cat((img1, img2), 0)))
    return lateral[: img1.shape[0]], lateral[img1.shape[0]:]


def predict_flow(model: nn.Module, img1: torch.Tensor, img2: torch.Tensor) -> list[torch.Tensor]:
    """The three flows (fine to coarse, training units) from img1 (target) to img2 (source)."""
    lat1, lat2 = flow_laterals(model, img1, img2)
    levels = model.estimate_flow(lat1, KeyframeState(feats=(), lateral=lat2), with_level1=True, level1_flow_only=True)
    return [level[0] for level in levels]


@dataclass
class FlowEvalResult:
    epe: list[float]  # per level (fine to coarse), pixels of the original images
    zero_flow_epe: float  # EPE of predicting no motion
    num_pairs: int
    seconds: float

    @property
    def mean_epe(self) -> float:
        return float(np.mean(self.epe))

    def summary(self) -> str:
        levels = ", ".join(f"level {i + 1} {v:.3f}" for i, v in enumerate(self.epe))
        return (f"EPE (px) on {self.num_pairs} pairs: {levels}; mean {self.mean_epe:.3f}; zero flow "
                f"{self.zero_flow_epe:.3f}")


def evaluate_flow(model: nn.Module, pairs: Any, *, config: ModelConfig | None = None, max_pairs: int | None = None,
                  device: torch.device | str | None = None) -> FlowEvalResult:
    """End-point error in pixels of the original images: each level's prediction is upsampled to
    the image size and converted from units to pixels, then compared with the full-resolution
    ground truth; the zero-flow EPE (mean ground-truth magnitude) is the baseline."""
    cfg = config or getattr(model, "config", None)
    if cfg is None:
        raise ValueError("pass config= for a model that was not made by build_model")
    dev = torch.device(device) if device is not None else next(model.parameters()).device
    modes = {m: m.training for m in model.modules()}
    model.eval()
    count = len(pairs) if max_pairs is None else min(max_pairs, len(pairs))
    sums, zero = np.zeros(NUM_LEVELS), 0.0
    start = time.perf_counter()
    try:
        with torch.inference_mode():
            for index in range(count):
                img1, img2, flow = pairs[index]
                a = torch.from_numpy(eval_transform(img1, cfg.preprocess))[None].to(dev)
                b = torch.from_numpy(eval_transform(img2, cfg.preprocess))[None].to(dev)
                gt = flow_to_tensor(flow).to(dev)
                size = gt.shape[-2:]
                for level, pred in enumerate(predict_flow(model, a, b)):
                    pixels = training_units_to_pixels(resize_flow(pred.float(), size), size)
                    sums[level] += float(end_point_error(pixels, gt))
                zero += float(torch.linalg.vector_norm(gt, dim=1).mean())
    finally:
        for m, mode in modes.items():
            m.training = mode
    n = max(count, 1)
    return FlowEvalResult([float(s / n) for s in sums], zero / n, count, time.perf_counter() - start)


class FlowTrainer(VideoStageTrainer):
    """Stage 2 on a ``FlyingChairsDataset`` (``val_set``: its val split, for the EPE report).

    ``config.init``: the stage-1 image checkpoint. Its config gets a flow network
    (``config.replace(flow=flow)``, ``flow``: ``FlowConfig`` fields, default the original's) and
    the new flow/SPA tensors keep their constructor initialisation. Without an init,
    ``model_config`` gives the architecture (random weights: only for experiments and tests).
    ``input_size`` overrides the network input size.
    """

    stage = "flow"
    trainable = FLOW_TRAINABLE
    loss_fields = ("iteration", "epoch", "lr", "epe1", "epe2", "epe3", "total", "seconds")
    metric_fields = ("iteration", "epoch", "epe", "epe1", "epe2", "epe3", "zero_flow_epe", "pairs", "seconds")
    higher_is_better = False

    def __init__(self, config: VideoTrainConfig, train_set: Any, val_set: Any = None, *,
                 model_config: ModelConfig | str | None = None, flow: dict[str, Any] | None = None,
                 input_size: tuple[int, int] | None = None, device: str | torch.device = "auto",
                 callbacks: Sequence[Callable] = (), show_progress: bool = True,
                 _resume: Checkpoint | None = None) -> None:
        super().__init__(config, device=device, callbacks=callbacks, show_progress=show_progress)
        if train_set is None or len(train_set) == 0:
            raise DatasetError("the flow training set has no pairs")
        self.train_set, self.val_set = train_set, val_set
        init = None
        if _resume is not None:
            arch = _resume.config
        else:
            init = self._init_checkpoint()
            if init is not None:
                arch = init.config
            elif model_config is not None:
                arch = get_config(model_config) if isinstance(model_config, str) else model_config
            else:
                raise ValueError("pass an init checkpoint (config.init, the stage-1 model) or a model_config")
            if not arch.is_video or flow:
                arch = add_flow(arch, flow)
            if input_size is not None:
                arch = arch.replace(preprocess={"input_size": (int(input_size[0]), int(input_size[1]))})
        self._build(arch, init, _resume, len(train_set))

    def data_paths(self) -> dict[str, Any]:
        root = getattr(self.train_set, "root", None)
        return {"flyingchairs": str(root)} if root is not None else {}

    def batches(self) -> FlowBatches:
        cfg = self.config
        return FlowBatches(self.train_set, self.model_config.preprocess, cfg.batch_size, self.iters_per_epoch,
                           self.max_iter, cfg.seed)

    def compute_losses(self, batch: FlowBatch, iteration: int) -> dict[str, torch.Tensor]:
        with self.autocast():
            preds = predict_flow(self.model, self.to_device(batch.img1), self.to_device(batch.img2))
        total, levels = flow_loss([p.float() for p in preds], batch.target.to(self.device, non_blocking=True))
        return {"epe1": levels[0], "epe2": levels[1], "epe3": levels[2], "total": total}

    def has_validation(self) -> bool:
        return self.val_set is not None and len(self.val_set) > 0

    def evaluate(self) -> tuple[dict[str, Any], float]:
        result = evaluate_flow(self.model, self.val_set, config=self.model_config, max_pairs=self.config.val_max_items)
        row = {"epe": result.mean_epe, **{f"epe{i + 1}": v for i, v in enumerate(result.epe)},
               "zero_flow_epe": result.zero_flow_epe, "pairs": result.num_pairs, "seconds": round(result.seconds, 2)}
        log.info("val @ it %d: %s", self.iteration, result.summary())
        score = result.mean_epe
        return row, score if math.isfinite(score) else math.inf
