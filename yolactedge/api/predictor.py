"""``YolactEdge``: load a model from one path and run it on any source."""
from __future__ import annotations

import dataclasses
import logging
import os
import time
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from yolactedge.runtime.device import resolve_device
from yolactedge.api.keyframes import KeyframePolicy, KeyframeScheduler
from yolactedge.api.results import Results
from yolactedge.checkpoints import load_model_weights, read_checkpoint
from yolactedge.config.presets import get_config
from yolactedge.config.schema import ModelConfig
from yolactedge.data.preprocess import preprocess_image
from yolactedge.data.sources import Frame, load_source
from yolactedge.deploy.engine import Engine, PyTorchEngine
from yolactedge.model import KeyframeState, YolactOutput, build_model
from yolactedge.ops.detect import detect_one, filter_detections, postprocess

log = logging.getLogger(__name__)


class YolactEdge:
    """A model plus its config, class names and pre/post-processing."""

    def __init__(self, model: nn.Module | Engine, config: ModelConfig, device: str | torch.device = "auto",
                 half: bool = False, optimize: bool = True):
        """``optimize``: run an inference copy of a PyTorch model (BatchNorm folded, channels_last on
        CPU; same results up to float rounding), see ``PyTorchEngine``."""
        self.config = config
        if isinstance(model, nn.Module):
            self.device = resolve_device(device)
            self.engine: Engine = PyTorchEngine(model, config, self.device, half=half, optimize=optimize)
        else:
            self.engine = model
            self.device = model.device
        self.names = dict(enumerate(config.class_names))
        self._scheduler: KeyframeScheduler | None = None
        self._state: KeyframeState | None = None
        self._stream_key: str | None = None

    # -- construction --------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | os.PathLike, config: ModelConfig | str | None = None,
             device: str | torch.device = "auto", half: bool = False, optimize: bool = True) -> "YolactEdge":
        """Our checkpoints carry their config; original checkpoints need ``config`` (a preset name).
        A folder written by ``yolactedge export`` loads its engines (ONNX Runtime / OpenVINO / TensorRT)."""
        if os.path.isdir(path):
            from yolactedge.deploy.load import load_engine

            engine = load_engine(path, device=device)
            return cls(engine, engine.config)
        checkpoint = read_checkpoint(path, config)
        model = build_model(checkpoint.config)
        load_model_weights(model, checkpoint)
        return cls(model, checkpoint.config, device, half=half, optimize=optimize)

    @classmethod
    def from_config(cls, config: ModelConfig | str, device: str | torch.device = "auto", **overrides: Any) -> "YolactEdge":
        """A freshly initialised model (no trained weights): for tests, demos and training."""
        cfg = get_config(config, **overrides) if isinstance(config, str) else config.replace(**overrides)
        return cls(build_model(cfg), cfg, device)

    @property
    def model(self) -> nn.Module:
        """The PyTorch module (only for the PyTorch backend)."""
        model = getattr(self.engine, "model", None)
        if model is None:
            raise AttributeError(f"the {self.engine.backend} backend has no PyTorch module")
        return model

    @property
    def is_video(self) -> bool:
        return self.engine.is_video

    # -- raw network ---------------------------------------------------------------------------
    def infer(self, batch: torch.Tensor, keyframe_state: KeyframeState | None = None, *,
              reuse_prototypes: bool | None = None, reuse_heads: float | None = None) -> YolactOutput:
        """Preprocessed float32 [N,3,H,W] -> raw outputs (conf are probabilities)."""
        if reuse_prototypes is None and reuse_heads is None:
            return self.engine.infer(batch, keyframe_state)
        return self.engine.infer(batch, keyframe_state, reuse_prototypes=reuse_prototypes, reuse_heads=reuse_heads)

    # -- prediction ----------------------------------------------------------------------------
    def predict(self, source: Any, *, conf: float = 0.25, iou: float | None = None, max_det: int | None = None,
                classes: Sequence[int] | None = None, masks: bool = True, stream: bool = False,
                keyframe_interval: int | None = None, adaptive_keyframes: bool = False, vid_stride: int = 1,
                nms: str | None = None, track: bool = False, reuse_prototypes: bool | None = None,
                reuse_heads: float | None = None,
                box_from_mask: bool | None = None) -> list[Results] | Iterator[Results]:
        """Run on an image path, folder, glob, numpy BGR array(s), video file, webcam index or URL.

        ``conf``: minimum score kept; ``iou``: NMS threshold; ``max_det``: detections per image;
        ``classes``: keep only these class indices (applied before mask assembly);
        ``keyframe_interval``: video presets only (default from the config, 5 as the original;
        1 = every frame a keyframe); ``stream=True`` returns a generator (constant memory);
        ``track=True`` gives video detections ids (``result.ids``) kept across frames by mask IoU.
        ``reuse_prototypes``: non-keyframes warp the keyframe's prototypes instead of running ProtoNet;
        ``reuse_heads``: a change threshold (e.g. 0.3) below which an FPN level reuses the keyframe's
        head outputs. Both are cheaper and less accurate than the original scheme (BENCHMARKS.md);
        PyTorch backend only; None: the config's default (off).
        ``box_from_mask``: boxes are the tight boxes of the masks (not the original's; better box AP,
        most on warped non-keyframes, BENCHMARKS.md); None: the config's default (off).
        """
        self.check_reuse_options(reuse_prototypes, reuse_heads)
        if box_from_mask and not masks:
            raise ValueError("box_from_mask=True needs the masks: drop masks=False (--no-masks)")
        reuse = {"reuse_prototypes": reuse_prototypes, "reuse_heads": reuse_heads}
        frames = load_source(source, vid_stride=vid_stride)
        post = self.config.postprocess
        changes = {k: v for k, v in (("nms_thresh", iou), ("nms", nms), ("box_from_mask", box_from_mask))
                   if v is not None}
        if changes:
            post = dataclasses.replace(post, **changes)
        interval = keyframe_interval or (self.config.flow.keyframe_interval if self.config.flow else 1)
        policy = KeyframePolicy(interval=interval, adaptive=adaptive_keyframes)
        gen = self._run(frames, post, conf, max_det, classes, masks, policy, reuse)
        if track:
            gen = _with_track_ids(gen)
        return gen if stream else list(gen)

    __call__ = predict

    def _run(self, frames, post, conf, max_det, classes, masks, policy, reuse) -> Iterator[Results]:
        self.reset_video()
        for frame in frames:
            yield self.predict_frame(frame, post=post, conf=conf, max_det=max_det, classes=classes,
                                     masks=masks, policy=policy, **reuse)

    def check_reuse_options(self, reuse_prototypes: bool | None, reuse_heads: float | None) -> None:
        """ValueError (saying what to do) unless this model can run the requested non-keyframe reuse."""
        if not reuse_prototypes and reuse_heads is None:
            return
        if not self.is_video:
            raise ValueError(f"reuse_prototypes/reuse_heads apply to non-keyframes of video presets; "
                             f"{self.config.name} is an image model (no flow network)")
        if reuse_heads is not None and not reuse_heads >= 0:
            raise ValueError(f"reuse_heads is a change threshold >= 0 (e.g. 0.3), got {reuse_heads!r}")
        if self.engine.backend != "pytorch":
            from yolactedge.deploy.backends.pipeline import check_original_scheme

            check_original_scheme(self.engine.backend, reuse_prototypes, reuse_heads)

    def reset_video(self) -> None:
        """Forget the keyframe cache (a new video starts with a keyframe)."""
        self._scheduler, self._state, self._stream_key = None, None, None

    def predict_frame(self, frame: Frame | np.ndarray, *, post=None, conf: float = 0.25, max_det: int | None = None,
                      classes: Sequence[int] | None = None, masks: bool = True,
                      policy: KeyframePolicy | None = None, reuse_prototypes: bool | None = None,
                      reuse_heads: float | None = None) -> Results:
        """One frame; consecutive video frames of one source share the keyframe cache."""
        if isinstance(frame, np.ndarray):
            frame = Frame(image=frame, name="array", index=0, source="array", is_video=False, fps=None)
        post = post or self.config.postprocess
        image = frame.image
        t0 = time.perf_counter()
        batch = preprocess_image(image, self.config.preprocess).unsqueeze(0)
        t1 = time.perf_counter()
        keyframe = True
        state = None
        if self.is_video and frame.is_video:
            if self._stream_key != frame.source or self._scheduler is None:
                self._scheduler = KeyframeScheduler(policy or KeyframePolicy(self.config.flow.keyframe_interval))
                self._state, self._stream_key = None, frame.source
            keyframe = self._scheduler.decide(image) or self._state is None
            state = None if keyframe else self._state
        out = self.infer(batch, keyframe_state=state, reuse_prototypes=reuse_prototypes, reuse_heads=reuse_heads)
        if keyframe and out.state is not None:
            self._state = out.state
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        t2 = time.perf_counter()
        dets = detect_one(out.loc[0], out.conf[0], out.mask[0], out.priors, post, self.config.input_size)
        dets = filter_detections(dets, conf, classes, max_det)
        t3 = time.perf_counter()
        inst = postprocess(dets, out.proto[0], image.shape[:2], post, with_masks=masks)
        t4 = time.perf_counter()
        speed = {"preprocess": (t1 - t0) * 1e3, "inference": (t2 - t1) * 1e3, "nms": (t3 - t2) * 1e3,
                 "masks": (t4 - t3) * 1e3}
        return Results(
            orig_img=image, path=frame.name, names=self.names,
            boxes=inst.boxes.cpu().numpy().astype(np.float32), scores=inst.scores.cpu().numpy().astype(np.float32),
            class_ids=inst.classes.cpu().numpy().astype(np.int64),
            masks=None if inst.masks is None else inst.masks.cpu().numpy(),
            speed=speed, keyframe=keyframe, source=frame.source, is_video=frame.is_video, fps=frame.fps,
        )


def _with_track_ids(results: Iterator[Results]) -> Iterator[Results]:
    """Attach tracking ids; a new tracker per video source (still images are not tracked)."""
    from yolactedge.api.tracking import MaskIoUTracker

    tracker, source = MaskIoUTracker(), None
    for result in results:
        if result.is_video:
            if result.source != source:
                tracker.reset()
                source = result.source
            result.ids = tracker.update(result.boxes, result.class_ids, result.masks)
        yield result
