"""YouTube-VIS frame mAP of a video model per keyframe distance, as the original's eval stride
(spec 14.3).

The original processes each video in ``eval_stride`` (= keyframe interval k) passes; in pass d the
keyframes are the raw frames with index % k == d (and every frame before the first of them), so
each annotated frame (index % k == 0) is evaluated once as a keyframe and once at each keyframe
distance 1..k-1, all passes pooled in one AP table. Here, for pass d and annotated frame f, the
keyframe is frame f - d clamped to the video start: the keyframe path runs on it, then the
non-keyframe path (warping from it) on f. Frames closer than d to the video start are thus
evaluated at the clamped distance (as a keyframe when f = 0), exactly as in the original's pass
d; they are still reported under pass d. Warping is always from the keyframe, never chained, so
unannotated non-keyframes need not run (the original's ``--fast_eval``).

The result maps each pass/distance (0 = every annotated frame as a keyframe, which is the
all-keyframe mAP) and "all" (every (frame, distance) pair pooled, the original's number) to COCO
metrics, and carries the mean network time of the keyframe and non-keyframe paths.
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np
import torch
from torch import nn

from yolactedge.runtime.progress import progress as progress_bar
from yolactedge.config.schema import ModelConfig
from yolactedge.data.augment import eval_transform
from yolactedge.data.ytvis import parse_frame_name
from yolactedge.eval.report import format_table
from yolactedge.eval.ytvis_eval import FrameEvaluator
from yolactedge.model.outputs import YolactOutput
from yolactedge.ops.detect import detect, postprocess

MAP_MAX_DETS = 100
PATHS = ("keyframe", "non-keyframe", "postprocess")


@dataclass
class PathTiming:
    """Accumulated wall time of one path (network forward only; postprocess separately)."""

    calls: int = 0
    seconds: float = 0.0

    @property
    def mean_ms(self) -> float:
        return 1000.0 * self.seconds / self.calls if self.calls else math.nan


class VideoEvalResult(dict):
    """``{distance: metrics, ..., "all": metrics}`` (metrics as ``FrameEvaluator.summarize``), plus
    ``timings`` (per path), ``num_videos``, ``num_frames`` (annotated frames), ``clamped`` (frame
    evaluations whose keyframe was clamped to the video start) and ``seconds``."""

    def __init__(self, summary: dict, timings: dict[str, PathTiming], num_videos: int, num_frames: int,
                 clamped: int, seconds: float, keyframe_interval: int) -> None:
        super().__init__(summary)
        self.timings = timings
        self.num_videos = num_videos
        self.num_frames = num_frames
        self.clamped = clamped
        self.seconds = seconds
        self.keyframe_interval = keyframe_interval

    @property
    def distances(self) -> list[int]:
        return sorted(k for k in self if isinstance(k, int))

    def timing_table(self) -> str:
        rows = [[name, t.calls, t.mean_ms] for name, t in self.timings.items()]
        return format_table(["path", "calls", "mean ms"], rows)

    def summary_row(self) -> dict[str, float]:
        """Flat numbers: mask/box AP per distance and pooled."""
        out = {}
        for key in [*self.distances, "all"]:
            for kind, label in (("segm", "mask"), ("bbox", "box")):
                out[f"{label}_AP_{key}"] = float(self[key].get(kind, {}).get("AP", -1.0))
        return out


@dataclass(frozen=True)
class _Frame:
    video_index: int
    video_id: int
    position: int  # index into the video's ``file_names`` (the ground truth's frame index)
    number: int  # raw frame number


def annotated_frames(dataset: Any, max_videos: int | None = None) -> Iterator[list[_Frame]]:
    """Per video, its annotated frames (from ``file_names``, in order)."""
    count = dataset.num_videos if max_videos is None else min(max_videos, dataset.num_videos)
    for vi in range(count):
        record = dataset.video_info(vi)
        where = f"{getattr(dataset, 'ann_file', 'dataset')}: video id {record['id']}"
        yield [_Frame(vi, int(record["id"]), pos, parse_frame_name(name, where)[2])
               for pos, name in enumerate(record["file_names"])]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def category_ids_for(class_names: tuple[str, ...], dataset: Any) -> list[int]:
    """The dataset's category id of each model class, in the model's class order (what
    ``FrameEvaluator`` maps predicted class indices through)."""
    names, ids = list(dataset.class_names), list(dataset.category_ids)
    missing = [n for n in class_names if n not in names]
    if missing:
        raise ValueError(f"the model's classes {missing[:5]} are not in the dataset's categories {names[:10]}")
    return [ids[names.index(n)] for n in class_names]


class FrameRunner:
    """Cached inputs and keyframe outputs of one video at a time, timed per path (public so that
    benchmarks can run the evaluation's exact keyframe / non-keyframe calls frame by frame)."""

    def __init__(self, model: nn.Module, dataset: Any, cfg: ModelConfig, device: torch.device,
                 reuse_prototypes: bool, reuse_heads: float | None) -> None:
        self.model, self.dataset, self.cfg, self.device = model, dataset, cfg, device
        self.reuse_prototypes, self.reuse_heads = reuse_prototypes, reuse_heads
        self.timings = {name: PathTiming() for name in PATHS}
        self.video = -1

    def start_video(self, video_index: int) -> None:
        self.video = video_index
        self.images: dict[int, np.ndarray] = {}
        self.inputs: dict[int, torch.Tensor] = {}
        self.keyframes: dict[int, YolactOutput] = {}

    def forget_before(self, number: int) -> None:
        """Drop cached frames below ``number`` (memory stays O(k) frames per video)."""
        for cache in (self.images, self.inputs, self.keyframes):
            for key in [k for k in cache if k < number]:
                del cache[key]

    def image(self, number: int) -> np.ndarray:
        if number not in self.images:
            self.images[number] = self.dataset.load_frame(self.video, number)
        return self.images[number]

    def input(self, number: int) -> torch.Tensor:
        if number not in self.inputs:
            x = eval_transform(self.image(number), self.cfg.preprocess)
            self.inputs[number] = torch.from_numpy(x)[None].to(self.device)
        return self.inputs[number]

    def keyframe(self, number: int) -> YolactOutput:
        """Full network on a frame (once per frame and video)."""
        if number not in self.keyframes:
            x = self.input(number)
            _sync(self.device)
            start = time.perf_counter()
            out = self.model(x)
            _sync(self.device)
            self.record("keyframe", start)
            self.keyframes[number] = out
        return self.keyframes[number]

    def non_keyframe(self, number: int, key: int) -> YolactOutput:
        state = self.keyframe(key).state
        x = self.input(number)
        _sync(self.device)
        start = time.perf_counter()
        out = self.model(x, keyframe_state=state, reuse_prototypes=self.reuse_prototypes,
                         reuse_heads=self.reuse_heads)
        _sync(self.device)
        self.record("non-keyframe", start)
        return out

    def record(self, path: str, start: float) -> None:
        timing = self.timings[path]
        timing.calls += 1
        timing.seconds += time.perf_counter() - start


def evaluate_video(
    model: nn.Module, ytvis_dataset: Any, keyframe_interval: int = 5, reuse_prototypes: bool = False,
    reuse_heads: float | None = None, max_videos: int | None = None, *, config: ModelConfig | None = None,
    device: torch.device | str | None = None, conf_thresh: float | None = None, show_progress: bool = False,
    backend: str = "pycocotools", box_from_mask: bool | None = None,
) -> VideoEvalResult:
    """Frame mAP of ``model`` (an ``nn.Module`` from ``build_model``) on a ``YTVISDataset`` at every
    keyframe distance 0..k-1 plus the pooled "all" (module docstring). ``reuse_prototypes`` and
    ``reuse_heads`` are the non-keyframe options of ``Yolact.forward``. ``keyframe_interval=1``
    evaluates every frame as a keyframe (works for image models too). ``conf_thresh`` and
    ``box_from_mask`` override the config's post-processing (None: keep it)."""
    if keyframe_interval < 1:
        raise ValueError(f"keyframe_interval must be >= 1, got {keyframe_interval}")
    module = model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model
    cfg = config or getattr(module, "config", None)
    if cfg is None:
        raise ValueError("pass config=ModelConfig for a module that was not made by build_model")
    if keyframe_interval > 1 and not getattr(module, "is_video", False):
        raise ValueError(f"{cfg.name} is an image model (no flow network): only keyframe_interval=1 applies")
    dev = torch.device(device) if device is not None else next(module.parameters()).device
    overrides = {k: v for k, v in (("conf_thresh", conf_thresh), ("box_from_mask", box_from_mask)) if v is not None}
    post = dataclasses.replace(cfg.postprocess, max_det=MAP_MAX_DETS, **overrides)
    evaluator = FrameEvaluator(ytvis_dataset.ann_file, category_ids_for(tuple(cfg.class_names), ytvis_dataset),
                               backend=backend)
    runner = FrameRunner(module, ytvis_dataset, cfg, dev, reuse_prototypes, reuse_heads)
    modes = {m: m.training for m in module.modules()}
    module.eval()
    videos = list(annotated_frames(ytvis_dataset, max_videos))
    num_frames = sum(len(v) for v in videos)
    clamped = 0
    start = time.perf_counter()
    try:
        with torch.inference_mode():
            for frames in progress_bar(videos, desc="val-video", enabled=show_progress, unit="video"):
                if not frames:
                    continue
                runner.start_video(frames[0].video_index)
                for index, frame in enumerate(frames):
                    if index > 0:  # frames before the earliest keyframe still to come are done with
                        runner.forget_before(frame.number - keyframe_interval + 1)
                    for distance in range(keyframe_interval):
                        key = max(frame.number - distance, 0)
                        clamped += int(frame.number - key != distance)
                        out = runner.keyframe(frame.number) if key == frame.number else runner.non_keyframe(
                            frame.number, key)
                        t0 = time.perf_counter()
                        dets = detect(out.loc, out.conf, out.mask, out.priors, post, cfg.input_size)
                        image = runner.image(frame.number)
                        inst = postprocess(dets[0], out.proto[0], image.shape[:2], post)
                        boxes, scores = inst.boxes.cpu().numpy(), inst.scores.float().cpu().numpy()
                        classes, masks = inst.classes.cpu().numpy(), inst.masks.cpu().numpy()
                        runner.record("postprocess", t0)
                        evaluator.add((frame.video_id, frame.position), distance, boxes, scores, classes, masks)
    finally:
        for m, mode in modes.items():
            m.training = mode
    summary = evaluator.summarize() if evaluator.distances else {}
    return VideoEvalResult(summary, runner.timings, len(videos), num_frames, clamped, time.perf_counter() - start,
                           keyframe_interval)


def evaluate_keyframes(model: nn.Module, ytvis_dataset: Any, max_videos: int | None = None,
                       **kwargs: Any) -> VideoEvalResult:
    """All-keyframe frame mAP (every annotated frame through the full network; distance 0 only),
    the reference a video model's warped distances are compared with."""
    return evaluate_video(model, ytvis_dataset, keyframe_interval=1, max_videos=max_videos, **kwargs)
