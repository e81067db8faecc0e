"""How much of the non-keyframe accuracy drop comes from the flow network's errors: video mAP per
keyframe distance with the predicted flow replaced by the exact ground-truth flow (or by none).

    python benchmarks/video_oracle_flow.py --model runs/video_recipe/joint/last.pt \\
        --data runs/video_recipe/data_video --seed 0 [--keyframe-interval 5] [--max-videos N] \\
        [--self-keyframe] [--json-out oracle_flow.json] \\
        [--reference runs/video_recipe/eval_original/metrics.json]

    # the self-keyframe diagnostic alone (below): no flow sources, no regeneration
    python benchmarks/video_oracle_flow.py --model runs/video_recipe/joint/last.pt \\
        --data runs/video_recipe/data_video --self-keyframe-only [--max-videos N] [--json-out self_key.json]

Data: a ``yolactedge synth video`` set (for the flow sources; the self-keyframe diagnostic alone
takes any YouTube-VIS-format set, see below). Its scenes are closed-form functions of (seed, split,
video index), so each val video is regenerated and the exact flow from the current frame t to its
keyframe t-d comes from ``layer_flow(owner_t, poses(t), poses(t-d))`` (frame_t(p) ~
frame_t-d(p + flow(p)), the orientation the flow network is trained and used in). Every evaluated
frame is rendered again and compared with the file on disk: a mismatch (other seed, or generator
code changed since the data was written) stops the run instead of pairing a video with another
video's flow.

The evaluation is ``yolactedge val-video``'s (``yolactedge.eval.video_eval``: the same frames,
keyframes clamped to the video start, detection settings and ``FrameEvaluator`` mAP), run once per
flow source on the non-keyframe path, with ``model.estimate_flow`` replaced on the instance. The
flow network always runs; what the warp of M4/M5 gets is (flow, scale, bias) per level:

  predicted               the flow network's own: the normal path
  oracle                  ground-truth flow, scale 1, bias 0
  predicted_unit          predicted flow, scale 1, bias 0
  zero                    no motion (keyframe features not moved), scale 1, bias 0
  oracle_pred_scale_bias  ground-truth flow, the flow network's scale and bias
  zero_pred_scale_bias    no motion, the flow network's scale and bias
  oracle_sampler_units    (not by default) as oracle_pred_scale_bias, in exact sampler units

The first four cross flow (predicted / ground truth) with scale/bias (predicted / identity); the
gap predicted -> oracle_pred_scale_bias is what the flow network's errors cost with everything
else as trained, and zero_pred_scale_bias tells whether the predicted flow helps at all.

Ground truth in the model's units is what stage 2 regresses (``yolactedge.train.video_losses``):
pixels of the frame -> pixels of the network input (``image_flow_to_input``) -> training units
(u*16/W, ``image_flow_to_training_units``) -> bilinear resize to each level, values unchanged
(``resize_flow``). The sampler (``yolactedge.model.warp``) reads a unit as (w-1)/16 level pixels,
so that convention moves features by (w-1)/w of the true displacement (0.95 at P4, 0.9 at P5 for
a 320 input); ``oracle_sampler_units`` uses ``pixels_to_flow_units`` of the level-resolution
pixel flow instead, the exact displacement, to show whether the convention itself costs AP.

Flow end-point errors (pixels of the network input): each predicted level upsampled to the input
size against the full-resolution ground truth (stage 2's validation convention), the zero-flow
EPE (mean ground-truth magnitude), the oracle against the ground truth at its own resolution (a
units round trip: must be 0) and the oracle upsampled again (what the level resolution alone
loses); next to them, not EPEs: the predicted flow's least-squares gain on the truth and the size
of the predicted scale/bias. Means over the evaluated (frame, keyframe) pairs; distance-0 and
clamped pairs use no flow.

Self-keyframe diagnostic (``--self-keyframe``, or ``--self-keyframe-only`` for it alone): what the
non-keyframe path costs with no motion at all. Every annotated frame is evaluated through the
keyframe path and then through the non-keyframe path with ITSELF as the keyframe, in these variants
(``SELF_VARIANTS``; SPA is set to None on the instance for the "no SPA" ones and put back in a
``finally``):

  keyframe                       the keyframe path (= distance 0 above)
  self_normal                    the normal non-keyframe path: predicted flow + scale/bias, SPA
  self_no_spa                    predicted flow + scale/bias, no SPA
  self_zero_unit_spa             zero flow, scale 1, bias 0, SPA
  self_zero_unit_no_spa          zero flow, scale 1, bias 0, no SPA: the keyframe's M4/M5 unchanged
  self_zero_pred_scale_bias_no_spa  zero flow + predicted scale/bias, no SPA

It is reported as its own table (mask and box AP per variant and their difference from the
keyframe) and under "self_keyframe" in the JSON. The self_zero_unit_no_spa variant rebuilds the
keyframe's features (an identity warp, up to float rounding), so it must equal the keyframe row
(= distance 0) within 0.05 mask and box AP; otherwise the run ends with exit status 1 (after
printing and writing the JSON). It needs no ground-truth flow: ``--self-keyframe-only`` runs
nothing else, so it skips the regeneration (and its frame check) and works on any
YouTube-VIS-format set, even one the current generator code can no longer reproduce; ``--seed``,
``--texture-dir`` and ``--keyframe-interval`` are then unused, and ``--sources`` and
``--reference`` are refused.

Sanity: distance 0 runs the keyframe path only, so it is identical for every source; with
``--reference`` (a ``val-video --json-out`` file of the same model, data and videos) the
"predicted" rows must equal it. With ``--self-keyframe``, the keyframe row must also equal distance 0
(same tolerance, same exit status).
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import distance_aps, machine  # noqa: E402

from yolactedge.cli.val_video import load_video_model  # noqa: E402
from yolactedge.data.synth.flow_field import layer_flow  # noqa: E402
from yolactedge.data.synth.photos import load_photos  # noqa: E402
from yolactedge.data.synth.seeding import draw_size, split_key, sub_rng  # noqa: E402
from yolactedge.data.synth.video_scene import VideoScene, make_video_scene  # noqa: E402
from yolactedge.data.ytvis import YTVISDataset  # noqa: E402
from yolactedge.eval.report import dump_json  # noqa: E402
from yolactedge.eval.video_eval import MAP_MAX_DETS, FrameRunner, annotated_frames, category_ids_for  # noqa: E402
from yolactedge.eval.ytvis_eval import FrameEvaluator  # noqa: E402
from yolactedge.model.warp import pixels_to_flow_units  # noqa: E402
from yolactedge.ops.detect import detect, postprocess  # noqa: E402
from yolactedge.train.video_losses import (end_point_error, flow_targets, image_flow_to_input,  # noqa: E402
                                           resize_flow, training_units_to_pixels)

# Mean absolute difference (0-255) above which a regenerated frame is not the one on disk. JPEG
# alone gives about 2-5 on these frames; another scene gives 20 and more.
MAX_FRAME_DIFF = 10.0

Levels = list  # [(flow, scale, bias), ...] fine to coarse, as FeatFlowNet returns


@dataclasses.dataclass
class GroundTruth:
    """The current (frame, keyframe) pair's exact flow: input pixels and training units [1,2,H,W]."""

    input_px: torch.Tensor
    units: torch.Tensor


def _oracle_training_units(pred: Levels, gt: GroundTruth) -> list[torch.Tensor]:
    """Ground truth in training units resized to each level, values unchanged (stage 2's targets)."""
    return [resize_flow(gt.units, f.shape[-2:]).to(f.dtype) for f, _, _ in pred]


def _oracle_sampler_units(pred: Levels, gt: GroundTruth) -> list[torch.Tensor]:
    """Ground truth in the sampler's exact units: input-pixel flow resized to each level, values
    scaled to level pixels, then ``pixels_to_flow_units`` (16/(w-1) per level pixel)."""
    out = []
    in_h, in_w = gt.input_px.shape[-2:]
    for f, _, _ in pred:
        h, w = f.shape[-2:]
        scale = gt.input_px.new_tensor([w / in_w, h / in_h]).view(1, 2, 1, 1)
        out.append(pixels_to_flow_units(resize_flow(gt.input_px, (h, w)) * scale).to(f.dtype))
    return out


FLOWS: dict[str, Callable[[Levels, GroundTruth], list[torch.Tensor]]] = {
    "predicted": lambda pred, gt: [f for f, _, _ in pred],
    "oracle": _oracle_training_units,
    "zero": lambda pred, gt: [torch.zeros_like(f) for f, _, _ in pred],
    "oracle_sampler_units": _oracle_sampler_units,
}
GT_FLOWS = frozenset({"oracle", "oracle_sampler_units"})  # the flows that read the ground truth
# name -> (row label, flow, scale/bias): "predicted" keeps the flow network's scale and bias maps,
# "identity" warps only (scale 1, bias 0).
SOURCES: dict[str, tuple[str, str, str]] = {
    "predicted": ("predicted flow + predicted scale/bias (normal path)", "predicted", "predicted"),
    "oracle": ("oracle flow, scale 1, bias 0", "oracle", "identity"),
    "predicted_unit": ("predicted flow, scale 1, bias 0", "predicted", "identity"),
    "zero": ("zero flow, scale 1, bias 0", "zero", "identity"),
    "oracle_pred_scale_bias": ("oracle flow + predicted scale/bias", "oracle", "predicted"),
    "zero_pred_scale_bias": ("zero flow + predicted scale/bias", "zero", "predicted"),
    "oracle_sampler_units": ("oracle flow in exact sampler units + predicted scale/bias", "oracle_sampler_units",
                             "predicted"),
}
DEFAULT_SOURCES = ("predicted", "oracle", "predicted_unit", "zero", "oracle_pred_scale_bias", "zero_pred_scale_bias")


def source_levels(source: str, pred: Levels, gt: GroundTruth) -> Levels:
    """What the warp gets under ``source``: [(flow, scale, bias)] per level, fine to coarse."""
    _, flow, scale_bias = SOURCES[source]
    flows = FLOWS[flow](pred, gt)
    if scale_bias == "predicted":
        return [(f, s, b) for f, (_, s, b) in zip(flows, pred)]
    return [(f, torch.ones_like(s), torch.zeros_like(b)) for f, (_, s, b) in zip(flows, pred)]


class FlowOverride:
    """Replaces ``model.estimate_flow`` on the instance: the flow network still runs (its output is
    kept for the EPE and for the sources that reuse its scale/bias), then the active source decides
    what the warp gets. ``source``/``gt`` are set by the loop before each non-keyframe pass (``gt``
    only matters to the sources whose flow is in ``GT_FLOWS``)."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model
        self.original = model.estimate_flow  # the bound method
        self.source = "predicted"
        self.gt: GroundTruth | None = None
        self.last_predicted: Levels | None = None
        self.last_state: Any = None
        model.estimate_flow = self

    def __call__(self, lateral: torch.Tensor, state: Any, with_level1: bool = False, **options: Any) -> Levels:
        pred = self.original(lateral, state, with_level1=with_level1, **options)
        self.last_predicted, self.last_state = pred, state
        if self.source == "predicted":
            return pred
        if self.gt is None and SOURCES[self.source][1] in GT_FLOWS:
            raise RuntimeError(f"source {self.source!r}: no ground-truth flow set for this non-keyframe pass")
        return source_levels(self.source, pred, self.gt)

    def restore(self) -> None:
        del self.model.estimate_flow  # back to the class's method


class SceneSource:
    """Regenerates the synthetic videos of one split exactly as ``generate_video_dataset`` wrote
    them (same generators, same draw order as its ``_write_video``)."""

    def __init__(self, ann_file: Path, split: str, seed: int | None, texture_dir: str | None) -> None:
        info = json.loads(ann_file.read_text()).get("info", {})
        if info.get("generator") != "yolactedge.data.synth.generate_video_dataset":
            raise SystemExit(f"error: {ann_file} was not written by `yolactedge synth video` (info.generator "
                             f"{info.get('generator')!r}): there is no ground-truth flow to regenerate")
        if seed is None:
            seed = info.get("seed")
            if seed is None:
                raise SystemExit(f"error: {ann_file} does not record its seed: pass --seed")
        elif info.get("seed") is not None and int(info["seed"]) != int(seed):
            raise SystemExit(f"error: --seed {seed}, but {ann_file} was generated with seed {info['seed']}")
        if info.get("textures") and texture_dir is None:
            raise SystemExit(f"error: the data used {len(info['textures'])} texture photos: pass --texture-dir")
        size = info["image_size"]
        self.image_size = (tuple(size["height"]), tuple(size["width"]))
        self.num_frames = int(info["num_frames"])
        self.motion_scale = float(info.get("motion_scale", 1.0))  # sets written before the option: 1
        self.seed, self.split = int(seed), split
        self.photos = load_photos(texture_dir)[0]

    def scene(self, index: int) -> VideoScene:
        rng = sub_rng(self.seed, split_key(self.split), index)
        height, width = draw_size(rng, self.image_size)
        return make_video_scene(rng, height, width, self.num_frames, self.photos, motion_scale=self.motion_scale)

    def render(self, scene: VideoScene, index: int, t: int) -> tuple[np.ndarray, np.ndarray]:
        return scene.render(t, sub_rng(self.seed, split_key(self.split), index, t + 1))


@contextlib.contextmanager
def spa_disabled(model: torch.nn.Module, disable: bool = True) -> Iterator[None]:
    """SPA off (``model.spa = None``, which the non-keyframe path skips) for the block, put back in a
    ``finally``; a no-op when ``disable`` is False or the model has no SPA."""
    spa = getattr(model, "spa", None)
    if not disable or spa is None:
        yield
        return
    model.spa = None
    try:
        yield
    finally:
        model.spa = spa


def add_detections(evaluator: FrameEvaluator, runner: FrameRunner, post: Any, frame: Any, distance: int,
                   out: Any) -> None:
    """Detections of one network output, as ``evaluate_video`` makes them, into ``evaluator``."""
    dets = detect(out.loc, out.conf, out.mask, out.priors, post, runner.cfg.input_size)
    inst = postprocess(dets[0], out.proto[0], runner.image(frame.number).shape[:2], post)
    evaluator.add((frame.video_id, frame.position), distance, inst.boxes.cpu().numpy(),
                  inst.scores.float().cpu().numpy(), inst.classes.cpu().numpy(), inst.masks.cpu().numpy())


def video_index(record: dict) -> int:
    """Generator index of a video from its folder name (``video_NNNN``)."""
    folder = record["file_names"][0].split("/")[0]
    if not folder.startswith("video_"):
        raise SystemExit(f"error: video folder {folder!r} is not a generated video_NNNN")
    return int(folder[len("video_"):])


class EpeStats:
    """Per-distance end-point errors (pixels of the network input) and the size of the predicted
    scale/bias (is the learnt correction far from the identity the oracle rows assume?)."""

    NAMES = ("zero_flow", "pred_full", "pred_level", "oracle_self", "oracle_upsampled", "pred_gain", "scale_dev",
             "bias_rel")

    def __init__(self) -> None:
        self.rows: dict[int, dict[str, list[list[float]]]] = {}  # distance -> name -> per pair [P4, P5]

    def add(self, distance: int, pred: Levels, gt: GroundTruth, key_feats: tuple[torch.Tensor, ...]) -> None:
        """``pred_full``: each level upsampled to the input vs the full-res ground truth;
        ``pred_level``: each level vs the ground truth resized to it; ``oracle_self``: the oracle
        (training units at the level) vs the ground truth at the level, in pixels (a round trip of
        the conversions: 0); ``oracle_upsampled``: the oracle upsampled vs the full-res truth;
        ``pred_gain``: least-squares gain of the predicted flow on the truth at the level (1: right
        magnitude, 0: no motion found); ``scale_dev``: mean |scale - 1|; ``bias_rel``: mean |bias| /
        mean |keyframe M4 or M5|."""
        size = tuple(gt.input_px.shape[-2:])
        row = self.rows.setdefault(distance, {n: [] for n in self.NAMES})
        levels = [f.float() for f, _, _ in pred[-2:]]  # P4, P5 (the warped levels)
        row["zero_flow"].append([float(torch.linalg.vector_norm(gt.input_px, dim=1).mean())])
        full, level, self_, up, gain = [], [], [], [], []
        for f in levels:
            full.append(float(end_point_error(training_units_to_pixels(resize_flow(f, size), size), gt.input_px)))
            gt_level_px = resize_flow(gt.input_px, f.shape[-2:])
            pred_px = training_units_to_pixels(f, size)
            level.append(float(end_point_error(pred_px, gt_level_px)))
            gain.append(float((pred_px * gt_level_px).sum() / (gt_level_px * gt_level_px).sum().clamp_min(1e-12)))
            oracle = resize_flow(gt.units, f.shape[-2:])
            self_.append(float(end_point_error(training_units_to_pixels(oracle, size), gt_level_px)))
            up.append(float(end_point_error(training_units_to_pixels(resize_flow(oracle, size), size), gt.input_px)))
        row["pred_full"].append(full)
        row["pred_level"].append(level)
        row["oracle_self"].append(self_)
        row["oracle_upsampled"].append(up)
        row["pred_gain"].append(gain)
        row["scale_dev"].append([float((s.float() - 1).abs().mean()) for _, s, _ in pred[-2:]])
        row["bias_rel"].append([float(b.float().abs().mean() / feat.float().abs().mean().clamp_min(1e-12))
                                for (_, _, b), feat in zip(pred[-2:], key_feats[1:3])])

    def summary(self) -> dict[str, dict[str, Any]]:
        """{distance: {name: [P4, P5] means (zero_flow: [mean]), "pairs": n}}; "mean": over distances' pairs."""
        out: dict[str, dict[str, Any]] = {}
        pooled: dict[str, list] = {n: [] for n in self.NAMES}
        for d in sorted(self.rows):
            row = self.rows[d]
            out[str(d)] = {n: np.mean(np.array(v), axis=0).tolist() for n, v in row.items()}
            out[str(d)]["pairs"] = len(row["zero_flow"])
            for n in self.NAMES:
                pooled[n] += row[n]
        if any(pooled.values()):
            out["mean"] = {n: np.mean(np.array(v), axis=0).tolist() for n, v in pooled.items()}
            out["mean"]["pairs"] = len(pooled["zero_flow"])
        return out


def evaluation_setup(model: torch.nn.Module, dataset: YTVISDataset, names: list[str]) -> tuple[Any, dict, FrameRunner]:
    """What both loops share with ``evaluate_video``: its detection settings, one evaluator per row name,
    and the frame runner (keyframe / non-keyframe calls exactly as ``val-video`` makes them)."""
    cfg = model.config
    post = dataclasses.replace(cfg.postprocess, max_det=MAP_MAX_DETS)
    category_ids = category_ids_for(tuple(cfg.class_names), dataset)
    evaluators = {n: FrameEvaluator(dataset.ann_file, category_ids) for n in names}
    runner = FrameRunner(model, dataset, cfg, next(model.parameters()).device, reuse_prototypes=False,
                         reuse_heads=None)
    return post, evaluators, runner


def evaluate(model: torch.nn.Module, dataset: YTVISDataset, scenes: SceneSource, keyframe_interval: int,
             sources: list[str], max_videos: int | None) -> dict[str, Any]:
    """``evaluate_video``'s loop (same frames, clamping, detection settings and evaluator), with the
    non-keyframe path run once per flow source; the keyframe outputs are shared by all sources."""
    cfg = model.config
    dev = next(model.parameters()).device
    post, evaluators, runner = evaluation_setup(model, dataset, sources)
    override = FlowOverride(model)
    epe = EpeStats()
    frame_diffs: dict[int, float] = {}
    videos = list(annotated_frames(dataset, max_videos))
    clamped = 0
    start = time.perf_counter()
    model.eval()

    def add(source: str, frame: Any, distance: int, out: Any) -> None:
        add_detections(evaluators[source], runner, post, frame, distance, out)

    try:
        with torch.inference_mode():
            for vi, frames in enumerate(videos):
                if not frames:
                    continue
                runner.start_video(frames[0].video_index)
                index = video_index(dataset.video_info(frames[0].video_index))
                scene = scenes.scene(index)
                worst = 0.0
                for fi, frame in enumerate(frames):
                    if fi > 0:
                        runner.forget_before(frame.number - keyframe_interval + 1)
                    rendered, owner = scenes.render(scene, index, frame.number)
                    disk = runner.image(frame.number)
                    if rendered.shape != disk.shape:
                        raise SystemExit(f"error: video {index} frame {frame.number}: regenerated {rendered.shape} "
                                         f"but {disk.shape} on disk")
                    diff = float(np.abs(rendered.astype(np.float32) - disk.astype(np.float32)).mean())
                    worst = max(worst, diff)
                    if diff > MAX_FRAME_DIFF:
                        raise SystemExit(
                            f"error: video {index} frame {frame.number}: the regenerated frame differs from the file "
                            f"on disk (mean |diff| {diff:.1f} > {MAX_FRAME_DIFF}); the seed or the generator code "
                            "(yolactedge.data.synth) is not the one that wrote the data: regenerate the data, or run "
                            "with that code (e.g. PYTHONPATH pointing at a `git archive` of its commit)")
                    for distance in range(keyframe_interval):
                        key = max(frame.number - distance, 0)
                        clamped += int(frame.number - key != distance)
                        if key == frame.number:
                            out = runner.keyframe(frame.number)
                            for source in sources:
                                add(source, frame, distance, out)
                            continue
                        flow_px = layer_flow(owner, scene.poses(frame.number), scene.poses(key))  # t -> keyframe
                        flow_px = torch.from_numpy(flow_px).permute(2, 0, 1)[None].to(dev)
                        input_size = tuple(cfg.preprocess.input_size)
                        override.gt = GroundTruth(image_flow_to_input(flow_px, input_size),
                                                  flow_targets(flow_px, input_size))
                        for source in sources:
                            override.source = source
                            out = runner.non_keyframe(frame.number, key)
                            if source == "predicted":
                                epe.add(distance, override.last_predicted, override.gt, override.last_state.feats)
                            add(source, frame, distance, out)
                frame_diffs[index] = worst
                print(f"  video {vi + 1}/{len(videos)} ({index}): frames match (max mean |diff| {worst:.2f}); "
                      f"{time.perf_counter() - start:.0f} s", flush=True)
    finally:
        override.restore()
    return {"metrics": {s: ev.summarize() for s, ev in evaluators.items()}, "epe": epe.summary(),
            "frame_diffs": frame_diffs, "num_videos": len(videos), "num_frames": sum(len(v) for v in videos),
            "clamped": clamped, "seconds": time.perf_counter() - start}


# name -> (row label, flow source (``SOURCES``), SPA on); "keyframe" is the keyframe path itself.
SELF_VARIANTS: dict[str, tuple[str, str, bool]] = {
    "self_normal": ("self: normal path (predicted flow + scale/bias, SPA)", "predicted", True),
    "self_no_spa": ("self: predicted flow + scale/bias, no SPA", "predicted", False),
    "self_zero_unit_spa": ("self: zero flow, scale 1, bias 0, SPA", "zero", True),
    "self_zero_unit_no_spa": ("self: zero flow, scale 1, bias 0, no SPA (must equal the keyframe)", "zero", False),
    "self_zero_pred_scale_bias_no_spa": ("self: zero flow + predicted scale/bias, no SPA", "zero_pred_scale_bias",
                                         False),
}
SELF_KEYFRAME_LABEL = "keyframe path (= distance 0)"
SELF_MUST_MATCH = "self_zero_unit_no_spa"
SELF_TOLERANCE = 0.05  # AP points


def evaluate_self_keyframe(model: torch.nn.Module, dataset: YTVISDataset, max_videos: int | None) -> dict[str, Any]:
    """Every annotated frame through the keyframe path, then through the non-keyframe path with itself
    as the keyframe in each of ``SELF_VARIANTS`` (same frames, detection settings and evaluator as
    ``evaluate``). Needs no ground-truth flow."""
    post, evaluators, runner = evaluation_setup(model, dataset, ["keyframe", *SELF_VARIANTS])
    has_spa = getattr(model, "spa", None) is not None
    videos = list(annotated_frames(dataset, max_videos))
    start = time.perf_counter()
    model.eval()
    override = FlowOverride(model)
    try:
        with torch.inference_mode():
            for vi, frames in enumerate(videos):
                if not frames:
                    continue
                runner.start_video(frames[0].video_index)
                for frame in frames:
                    runner.forget_before(frame.number)
                    add_detections(evaluators["keyframe"], runner, post, frame, 0, runner.keyframe(frame.number))
                    for name, (_, source, use_spa) in SELF_VARIANTS.items():
                        override.source = source
                        with spa_disabled(model, not use_spa):
                            out = runner.non_keyframe(frame.number, frame.number)
                        add_detections(evaluators[name], runner, post, frame, 0, out)
                print(f"  self-keyframe: video {vi + 1}/{len(videos)}; {time.perf_counter() - start:.0f} s", flush=True)
    finally:
        override.restore()
    metrics = {n: ev.summarize()[0] if ev.distances else {} for n, ev in evaluators.items()}
    kinds = (("segm", "mask"), ("bbox", "box"))
    ap = {n: {label: float(m.get(kind, {}).get("AP", float("nan"))) for kind, label in kinds}
          for n, m in metrics.items()}
    return {"ap": ap, "metrics": metrics, "has_spa": has_spa, "num_videos": len(videos),
            "num_frames": sum(len(v) for v in videos), "seconds": time.perf_counter() - start}


def self_keyframe_markdown(ap: dict[str, dict[str, float]]) -> str:
    key = ap["keyframe"]
    lines = ["| frame as its own keyframe | mask AP | box AP | mask minus keyframe | box minus keyframe |",
             "|---" * 5 + "|"]
    labels = {"keyframe": SELF_KEYFRAME_LABEL, **{n: v[0] for n, v in SELF_VARIANTS.items()}}
    for name, label in labels.items():
        a = ap[name]
        lines.append(f"| {label} | {a['mask']:.1f} | {a['box']:.1f} | {a['mask'] - key['mask']:+.1f} | "
                     f"{a['box'] - key['box']:+.1f} |")
    return "\n".join(lines)


def max_ap_diff(a: dict[str, float], b: dict[str, float]) -> float:
    """Largest |AP difference| over mask and box (nan if either is missing)."""
    return float(np.max([abs(a["mask"] - b["mask"]), abs(a["box"] - b["box"])]))


def ap_rows(metrics: dict[str, Any], k: int) -> dict[str, dict[str, Any]]:
    """Per source and AP kind: per-distance AP, mean over 1..k-1, that minus distance 0, pooled."""
    return {source: distance_aps(summary, k) for source, summary in metrics.items()}


def markdown(rows: dict[str, Any], epe: dict[str, Any], k: int) -> str:
    dists = " | ".join(str(d) for d in range(1, k))
    lines = []
    for label in ("mask", "box"):
        lines += [f"| {label} AP by keyframe distance | 0 | {dists} | mean 1-{k - 1} | mean 1-{k - 1} minus 0 |",
                  "|---" * (k + 3) + "|"]
        for source, entry in rows.items():
            e = entry[label]
            per = " | ".join(f"{v:.1f}" for v in e["per_distance"])
            lines.append(f"| {SOURCES[source][0]} | {per} | {e['mean_warped']:.1f} | {e['drop']:+.1f} |")
        lines.append("")
    keys = [str(d) for d in range(1, k) if str(d) in epe]
    lines += [f"| flow EPE (px at the network input) | {' | '.join(keys)} | mean |", "|---" * (len(keys) + 2) + "|"]
    described = (("zero flow (= mean ground-truth magnitude)", "zero_flow", 0),
                 ("predicted P4, upsampled to the input", "pred_full", 0),
                 ("predicted P5, upsampled to the input", "pred_full", 1),
                 ("predicted P4 vs ground truth at P4 resolution", "pred_level", 0),
                 ("predicted P5 vs ground truth at P5 resolution", "pred_level", 1),
                 ("oracle P4/P5 vs itself (units round trip, must be 0)", "oracle_self", None),
                 ("oracle P4, upsampled to the input (resolution floor)", "oracle_upsampled", 0),
                 ("oracle P5, upsampled to the input (resolution floor)", "oracle_upsampled", 1),
                 ("(not EPE) predicted P4 flow gain on the truth (least squares, 1 = right size)", "pred_gain", 0),
                 ("(not EPE) predicted P5 flow gain on the truth (least squares, 1 = right size)", "pred_gain", 1),
                 ("(not EPE) predicted P4 mean abs(scale - 1)", "scale_dev", 0),
                 ("(not EPE) predicted P5 mean abs(scale - 1)", "scale_dev", 1),
                 ("(not EPE) predicted P4 mean abs(bias) / mean abs(keyframe M4)", "bias_rel", 0),
                 ("(not EPE) predicted P5 mean abs(bias) / mean abs(keyframe M5)", "bias_rel", 1))
    for text, name, level in described:
        cells = [max(epe[key][name]) if level is None else epe[key][name][level] for key in [*keys, "mean"]]
        lines.append(f"| {text} | " + " | ".join(f"{v:.3f}" for v in cells) + " |")
    lines.append(f"\n({epe['mean']['pairs']} (frame, keyframe) pairs with flow; distance 0 and pairs clamped at a "
                 "video start use no flow)")
    return "\n".join(lines)


def compare_reference(rows: dict[str, Any], reference: str, k: int) -> float:
    """Largest |AP difference| of the "predicted" source against a ``val-video --json-out`` file."""
    ref = json.loads(Path(reference).read_text())["metrics"]
    worst = 0.0
    for kind, label in (("segm", "mask"), ("bbox", "box")):
        for d in range(k):
            worst = max(worst, abs(rows["predicted"][label]["per_distance"][d] - float(ref[str(d)][kind]["AP"])))
    return worst


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="checkpoint of a video model (stage 3)")
    p.add_argument("--data", required=True, help="root of a `yolactedge synth video` set")
    p.add_argument("--split", default="val")
    p.add_argument("--seed", type=int, default=None, help="the data's generator seed (default: from annotations.json)")
    p.add_argument("--texture-dir", default=None, help="the photo folder the data was generated with, if any")
    p.add_argument("--keyframe-interval", type=int, default=5, help="k: distances 0..k-1")
    p.add_argument("--max-videos", type=int, default=None, help="the first N videos only")
    p.add_argument("--sources", nargs="+", choices=list(SOURCES), default=None,
                   help=f"flow sources (default: {' '.join(DEFAULT_SOURCES)}; all: {' '.join(SOURCES)})")
    p.add_argument("--self-keyframe", action="store_true",
                   help="also evaluate every annotated frame with itself as the keyframe (own table)")
    p.add_argument("--self-keyframe-only", action="store_true",
                   help="only the self-keyframe diagnostic: no flow sources, no data regeneration "
                        "(--seed, --texture-dir, --keyframe-interval unused)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--reference", default=None,
                   help="`val-video --json-out` metrics of the same model/data/videos: the predicted rows must match")
    p.add_argument("--json-out", default=None)
    args = p.parse_args(argv)
    if args.self_keyframe_only:
        if args.sources is not None or args.reference is not None:
            p.error("--self-keyframe-only evaluates no flow sources: --sources and --reference do not apply")
        args.self_keyframe, args.sources = True, []
        return args
    if args.keyframe_interval < 2:
        p.error("--keyframe-interval must be >= 2 (distances 1..k-1 are the point)")
    if args.sources is None:
        args.sources = list(DEFAULT_SOURCES)
    if "predicted" not in args.sources:
        args.sources = ["predicted", *args.sources]  # its flow gives the EPE and the scale/bias
    return args


def run_self_keyframe(model: torch.nn.Module, dataset: YTVISDataset, max_videos: int | None,
                      distance0: dict[str, float] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The self-keyframe diagnostic, printed; returns (its JSON entry, its checks). ``distance0``: the
    flow sources' distance-0 AP ({"mask", "box"}) when they ran too."""
    result = evaluate_self_keyframe(model, dataset, max_videos)
    ap = result["ap"]
    print(f"\nframe as its own keyframe (no motion): {result['num_frames']} annotated frames of "
          f"{result['num_videos']} videos; {result['seconds']:.0f} s\n")
    print(self_keyframe_markdown(ap))
    if not result["has_spa"]:
        print("\n(the model has no SPA: the SPA and no-SPA variants are the same path)")
    checks = {"self_zero_unit_no_spa_vs_keyframe_max_abs_diff": max_ap_diff(ap[SELF_MUST_MATCH], ap["keyframe"])}
    if distance0 is not None:
        checks["self_keyframe_vs_distance0_max_abs_diff"] = max_ap_diff(ap["keyframe"], distance0)
    for name, diff in checks.items():
        print(f"{name}: {diff:.4f} (must be <= {SELF_TOLERANCE})")
    checks["self_keyframe_ok"] = all(diff <= SELF_TOLERANCE for diff in checks.values())
    labels = {"keyframe": SELF_KEYFRAME_LABEL, **{n: v[0] for n, v in SELF_VARIANTS.items()}}
    entry = {"labels": labels, "ap": ap, "has_spa": result["has_spa"], "num_videos": result["num_videos"],
             "num_frames": result["num_frames"], "seconds": result["seconds"], "metrics": result["metrics"]}
    return entry, checks


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    root = Path(args.data) / args.split
    ann = root / "annotations.json"
    if not ann.is_file():
        raise SystemExit(f"error: {ann} does not exist")
    # The ground-truth flow (and the frame check) needs the data regenerated: only for flow sources.
    scenes = SceneSource(ann, args.split, args.seed, args.texture_dir) if args.sources else None
    model = load_video_model(args.model, None, args.device)
    if not model.is_video:
        raise SystemExit(f"error: {args.model} is an image model (no flow network)")
    dataset = YTVISDataset(root / "JPEGImages", ann)
    k = args.keyframe_interval
    what = (f"keyframe interval {k}, sources {', '.join(args.sources)}" if args.sources else "flow sources: none")
    print(f"machine: {machine()}; {args.model} on {root}, {what}; self-keyframe: {args.self_keyframe}")
    report: dict[str, Any] = {"settings": vars(args), "machine": machine()}
    checks: dict[str, Any] = {}
    distance0 = None
    if scenes is not None:
        result = evaluate(model, dataset, scenes, k, args.sources, args.max_videos)
        rows = ap_rows(result["metrics"], k)
        table = markdown(rows, result["epe"], k)
        print(f"\n{result['num_frames']} annotated frames of {result['num_videos']} videos, keyframe interval {k}, "
              f"input {tuple(model.config.preprocess.input_size)}; {result['seconds']:.0f} s\n")
        print(table)
        zero = {s: (r["mask"]["per_distance"][0], r["box"]["per_distance"][0]) for s, r in rows.items()}
        same0 = len(set(zero.values())) == 1
        print(f"\ndistance 0 identical for every source: {same0}")
        distance0 = dict(zip(("mask", "box"), zero["predicted"]))
        checks.update({"distance0_identical": same0,
                       "oracle_self_epe_max": max(max(v["oracle_self"]) for v in result["epe"].values()),
                       "max_frame_diff": max(result["frame_diffs"].values(), default=0.0)})
        if args.reference:
            checks["reference_max_abs_diff"] = compare_reference(rows, args.reference, k)
            print(f"predicted vs {args.reference}: largest |AP difference| {checks['reference_max_abs_diff']:.6f}")
        report.update({"num_videos": result["num_videos"], "num_frames": result["num_frames"],
                       "clamped": result["clamped"], "seconds": result["seconds"], "checks": checks, "ap": rows,
                       "epe_px": result["epe"], "frame_diffs": result["frame_diffs"], "metrics": result["metrics"]})
    if args.self_keyframe:
        entry, self_checks = run_self_keyframe(model, dataset, args.max_videos, distance0)
        checks.update(self_checks)
        report["checks"] = checks
        report["self_keyframe"] = entry
    if args.json_out:
        path = dump_json(report, args.json_out)
        print(f"wrote {path}")
    if args.self_keyframe and not checks["self_keyframe_ok"]:
        print(f"error: the self-keyframe sanity check failed (a difference above {SELF_TOLERANCE} AP, see above)",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
