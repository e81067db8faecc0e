"""Warm-up of a from-scratch fresh top before stage 3 (ours): imitate the frozen network's M4/M5.

Why: ``FreshLite`` starts from random weights, and inside stage 3 it learns slowly. Its feature loss
is one term among the detection losses, and the gates let through only what it already gets right.
On single frames the task is plain distillation (C3 -> M4/M5 of the same frozen network). That is
cheap: one backbone pass per frame, no warping, no heads. So a few hundred iterations of it at the
start of stage 3 give the gates something worth opening for (BENCHMARKS.md, "Fresh top levels").
A top that corrects the warp (``sees_warp``) needs the warped features too: it trains on frame pairs,
the reference frame warped by the stage-2 flow net (two backbone passes and the flow net, still no heads).
"""
from __future__ import annotations

import logging
import math
from contextlib import AbstractContextManager
from typing import Callable

import numpy as np
import torch
from tqdm import tqdm

from yolactedge.config.schema import PreprocessConfig
from yolactedge.data.preprocess import preprocess_batch
from yolactedge.train.video_losses import fresh_estimate_loss

log = logging.getLogger(__name__)


def sample_frames(video_set, count: int, max_offset: int, rng: np.random.Generator) -> list[np.ndarray]:
    """``count`` raw frames (BGR): annotated frames and frames up to ``max_offset`` before them, the
    frames stage 3 sees."""
    annotated = video_set.annotated_frames()
    frames = []
    for index in rng.integers(0, len(annotated), count):
        video, frame = annotated[int(index)]
        frames.append(video_set.load_frame(video, max(0, frame - int(rng.integers(0, max_offset + 1)))))
    return frames


def sample_pairs(video_set, count: int, offset_range: tuple[int, int],
                 rng: np.random.Generator) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``count`` (reference, current) raw frame pairs: current frames as ``sample_frames``, each
    reference k raw frames earlier (k uniform in ``offset_range``, clamped to frame 0)."""
    annotated = video_set.annotated_frames()
    lo, hi = int(offset_range[0]), int(offset_range[1])
    refs, frames = [], []
    for index in rng.integers(0, len(annotated), count):
        video, frame = annotated[int(index)]
        frame = max(0, frame - int(rng.integers(0, hi + 1)))
        refs.append(video_set.load_frame(video, max(0, frame - int(rng.integers(lo, hi + 1)))))
        frames.append(video_set.load_frame(video, frame))
    return refs, frames


def warm_up_fresh_top(model, video_set, preprocess: PreprocessConfig, *, iters: int, batch_size: int, lr: float,
                      offset_range: tuple[int, int], seed: int, autocast: Callable[[], AbstractContextManager],
                      prepare: Callable[[torch.Tensor], torch.Tensor],
                      show_progress: bool = False) -> tuple[float, float]:
    """Trains ``model.fresh_top`` alone on ``fresh_estimate_loss`` for ``iters`` steps (AdamW, cosine
    from ``lr`` to 0); returns the loss of the first and the last step. The rest of the model is untouched.
    A top that reads the warped features (``sees_warp``) trains on frame pairs, warped by the model's
    (stage-2) flow net; any other on single frames.
    ``prepare`` moves a CPU batch to the model's device and memory format; ``autocast`` gives its precision."""
    fresh = model.fresh_top
    params = [p for p in fresh.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=1e-4)
    rng = np.random.default_rng(seed)
    first = last = math.nan
    fresh.train()
    for it in tqdm(range(iters), desc="fresh top warm-up", disable=not show_progress, dynamic_ncols=True):
        for group in optimizer.param_groups:
            group["lr"] = 0.5 * lr * (1 + math.cos(math.pi * it / iters))
        if fresh.sees_warp:
            refs, frames = sample_pairs(video_set, batch_size, offset_range, rng)
            refs = prepare(preprocess_batch(refs, preprocess))
        else:
            frames = sample_frames(video_set, batch_size, offset_range[1], rng)
        images = prepare(preprocess_batch(frames, preprocess))
        with autocast():
            with torch.no_grad():
                (_, m4, m5), lateral, c3 = model.keyframe_features_and_c3(images)
                warped = ()
                if fresh.sees_warp:
                    state = model.make_keyframe_state(*model.keyframe_features(refs))
                    warped = model.warp_top_levels(lateral, state)
            m4_hat, m5_hat = fresh.estimate(c3, *warped)
        loss = fresh_estimate_loss((m4, m5), (m4_hat, m5_hat), model.fpn_phase_2.pred_layers)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        last = float(loss.detach())
        first = last if it == 0 else first
    log.info("fresh top warm-up: %d iterations, estimate loss %.4f -> %.4f", iters, first, last)
    return first, last
