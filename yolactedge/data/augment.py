"""Training augmentation of the original (``SSDAugmentation`` / ``SSDAugmentationVideo``), vectorised.

Order: to float -> photometric distort (see :mod:`yolactedge.data.photometric`) -> expand
(p 0.5, ratio U(1, 4), image at a random offset on a canvas filled with the BGR mean, masks padded
with zeros) -> SSD random sample crop -> random mirror (p 0.5) -> resize to the network input
(image bilinear, masks bilinear and re-binarised) -> drop tiny boxes -> normalise through
:func:`yolactedge.data.preprocess.normalize_resized` (the eval path uses the same function).

All randomness is drawn first into an :class:`AugmentParams` (``Augmenter.draw_params``) and then
applied (``Augmenter.apply``); a single image is draw + apply, and the frames of one video sample
share one draw (``Augmenter.augment_frames``), which is what ``SSDAugmentationVideo`` achieves by
re-seeding the global RNG before each frame. Results are deterministic given the
``np.random.Generator``; no global RNG is touched.

Deviations from the original (each changes results):

* SSD crop, min-IoU constraint: the original tests
  ``overlap.min() < min_iou and max_iou < overlap.max()`` with ``max_iou = inf``, which is never
  true, so every mode behaves like "unconstrained". Here a crop is accepted only if some
  non-crowd GT box has IoU >= min_iou with it (the SSD paper / Caffe SSD rule; crowd regions
  cannot satisfy it).
* SSD crop offsets: the original calls ``numpy.random.uniform(width - w)``, i.e. U(W - w, 1.0)
  (low/high swapped, range [1, W - w]); here the offset is U(0, W - w) as intended.
* SSD crop retries: the original redraws the mode forever; here the mode is redrawn at most
  ``MAX_CROP_MODES`` times (the "no crop" mode has p 1/6 per draw, so with the default modes this
  only matters for user-supplied mode lists that cannot be satisfied), then no crop is made.
* Video pairs: the crop is decided from the first annotated frame's boxes only and then applied
  unchanged to every frame; the original re-runs the trial loop per frame with the same seed,
  which desynchronises as soon as the frames' boxes differ (e.g. an unannotated reference frame).
* Tiny boxes: the original compares absolute pixel widths with ``4 / 550`` (relative units), so
  it never discards anything. Here boxes narrower or lower than ``min_box_size`` pixels *at the
  network input resolution* are dropped together with their labels, masks and crowd flags.
* Boxes are clipped to the canvas before cropping and to [0, 1] at the end (the original only
  clips them when a crop is taken).
* Colour jitter: see :mod:`yolactedge.data.photometric` (valid float HSV, output clipped to
  [0, 255]).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from yolactedge.data.image_io import to_bgr_uint8
from yolactedge.data.photometric import PhotometricParams, draw_photometric, photometric_distort
from yolactedge.data.preprocess import PreprocessConfig, normalize_resized, resize_bgr
from yolactedge.data.sample import Sample

__all__ = [
    "CROP_MODES",
    "AugmentConfig",
    "AugmentParams",
    "AugmentedSample",
    "Augmenter",
    "box_iou",
    "centres_inside",
    "draw_crop",
    "draw_expand",
    "eval_transform",
    "resize_masks",
]

# SSD sample options: None = keep the whole image, a float = minimum IoU with some non-crowd GT,
# -inf = any crop (still subject to the GT-centre rule).
CROP_MODES: tuple[float | None, ...] = (None, 0.1, 0.3, 0.7, 0.9, -math.inf)
CROP_TRIALS = 50
CROP_MIN_SCALE = 0.3
CROP_ASPECT_RANGE = (0.5, 2.0)  # allowed h / w of a crop
MAX_CROP_MODES = 100
CV2_MAX_CHANNELS = 128  # cv2 arrays hold at most this many channels (CV_CN_MAX is 128 in OpenCV 5)


@dataclass(frozen=True)
class AugmentConfig:
    """Which stages run; the defaults are the original's COCO / YTVIS image configuration."""

    photometric: bool = True
    expand: bool = True  # off in the original ``yolact_edge_vid_config``
    crop: bool = True
    mirror: bool = True
    min_box_size: float = 4.0  # pixels at the network input resolution
    expand_max_ratio: float = 4.0

    def __post_init__(self) -> None:
        if self.expand_max_ratio < 1.0:
            raise ValueError(f"expand_max_ratio must be >= 1, got {self.expand_max_ratio}")
        if self.min_box_size < 0.0:
            raise ValueError(f"min_box_size must be >= 0, got {self.min_box_size}")


@dataclass(frozen=True)
class AugmentParams:
    """Every random choice for one training sample, so that several frames can share them.

    Geometry is in pixels of the canvas: the input image (``image_shape``) pasted at ``offset``
    into a ``canvas_shape`` canvas (equal shapes and a zero offset when not expanded).
    """

    image_shape: tuple[int, int]  # (height, width) the parameters were drawn for
    photometric: PhotometricParams | None  # None: colour jitter disabled
    canvas_shape: tuple[int, int]  # (height, width) after expand
    offset: tuple[int, int]  # (top, left) of the image on the canvas
    crop: tuple[int, int, int, int] | None  # x1, y1, x2, y2 on the canvas; None: whole canvas
    mirror: bool


@dataclass
class AugmentedSample:
    """Network-ready training targets for one image.

    image:  [3,H,W] float32, normalised (RGB if the preprocess config says so)
    boxes:  [K,4] float32, relative [0,1] x1y1x2y2
    labels: [K] int64
    masks:  [K,H,W] uint8 in {0,1}, at the network input size
    crowd:  [K] bool
    """

    image: np.ndarray
    boxes: np.ndarray
    labels: np.ndarray
    masks: np.ndarray
    crowd: np.ndarray
    image_id: int = 0
    path: str = ""

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def eval_transform(image: np.ndarray, preprocess: PreprocessConfig) -> np.ndarray:
    """Deterministic eval input: resize + normalise, float32 [3,H,W] (same code as training)."""
    return normalize_resized(resize_bgr(to_bgr_uint8(image), preprocess.input_size), preprocess)


def box_iou(boxes: np.ndarray, rect: Sequence[float]) -> np.ndarray:
    """IoU of [K,4] x1y1x2y2 boxes with one rectangle -> [K]."""
    rect = np.asarray(rect, np.float64)
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    wh = np.clip(np.minimum(boxes[:, 2:], rect[2:]) - np.maximum(boxes[:, :2], rect[:2]), 0.0, None)
    inter = wh[:, 0] * wh[:, 1]
    area_boxes = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    area_rect = (rect[2] - rect[0]) * (rect[3] - rect[1])
    return inter / np.maximum(area_boxes + area_rect - inter, 1e-12)


def centres_inside(boxes: np.ndarray, rect: Sequence[float]) -> np.ndarray:
    """[K] bool: box centre strictly inside the rectangle (the original's GT-keep rule)."""
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2.0
    return (
        (centres[:, 0] > rect[0]) & (centres[:, 1] > rect[1]) & (centres[:, 0] < rect[2]) & (centres[:, 1] < rect[3])
    )


def draw_expand(
    image_shape: tuple[int, int], max_ratio: float, rng: np.random.Generator
) -> tuple[tuple[int, int], tuple[int, int]]:
    """Canvas (height, width) and the image's (top, left) on it, ratio U(1, max_ratio)."""
    height, width = image_shape
    ratio = rng.uniform(1.0, max_ratio)
    left = rng.uniform(0.0, width * ratio - width)
    top = rng.uniform(0.0, height * ratio - height)
    return (int(height * ratio), int(width * ratio)), (int(top), int(left))


def draw_crop(
    canvas_shape: tuple[int, int],
    boxes: np.ndarray,
    crowd: np.ndarray,
    rng: np.random.Generator,
    modes: Sequence[float | None] = CROP_MODES,
) -> tuple[int, int, int, int] | None:
    """SSD random sample crop on canvas-space boxes -> (x1, y1, x2, y2), or None for no crop.

    A crop needs the IoU constraint of its mode on some non-crowd GT and at least one non-crowd GT
    centre inside it. Without non-crowd GT nothing can qualify, so no crop is made.
    """
    height, width = canvas_shape
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    crowd = np.asarray(crowd, bool).reshape(-1)
    if not (~crowd).any():
        return None
    objects = boxes[~crowd]
    for _ in range(MAX_CROP_MODES):
        min_iou = modes[int(rng.integers(len(modes)))]
        if min_iou is None:
            return None
        for _ in range(CROP_TRIALS):
            w = rng.uniform(CROP_MIN_SCALE * width, width)
            h = rng.uniform(CROP_MIN_SCALE * height, height)
            if not CROP_ASPECT_RANGE[0] <= h / w <= CROP_ASPECT_RANGE[1]:
                continue
            left = rng.uniform(0.0, width - w)
            top = rng.uniform(0.0, height - h)
            rect = (int(left), int(top), int(left + w), int(top + h))
            if rect[2] <= rect[0] or rect[3] <= rect[1]:
                continue
            if box_iou(objects, rect).max() < min_iou:
                continue
            if not (centres_inside(boxes, rect) & ~crowd).any():
                continue
            return rect
    return None


def _canvas_window(
    array: np.ndarray, offset: tuple[int, int], rect: tuple[int, int, int, int], fill: float | np.ndarray
) -> np.ndarray:
    """The ``rect`` window of a canvas holding ``array`` (HxW[xC]) at ``offset``, else ``fill``.

    Expand followed by crop, without building the (up to 16x larger) canvas: a view when the
    window lies inside the image, otherwise a fill-valued window with the overlap pasted in.
    """
    top, left = offset
    x1, y1, x2, y2 = rect
    height, width = array.shape[:2]
    ix1, iy1 = max(x1, left), max(y1, top)
    ix2, iy2 = min(x2, left + width), min(y2, top + height)
    if (ix1, iy1, ix2, iy2) == (x1, y1, x2, y2):
        return array[y1 - top : y2 - top, x1 - left : x2 - left]
    out = np.empty((y2 - y1, x2 - x1) + array.shape[2:], array.dtype)
    out[...] = fill
    if ix2 > ix1 and iy2 > iy1:
        out[iy1 - y1 : iy2 - y1, ix1 - x1 : ix2 - x1] = array[iy1 - top : iy2 - top, ix1 - left : ix2 - left]
    return out


def resize_masks(masks_hwk: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """HxWxK {0,1} uint8 masks -> [K, height, width] uint8, bilinear.

    Bilinear in uint8 rounds the interpolated value, which for {0,1} inputs is exactly the
    re-binarisation at 0.5. Chunked because cv2 takes at most 128 channels.
    """
    out_h, out_w = size
    count = masks_hwk.shape[2]
    out = np.empty((count, out_h, out_w), np.uint8)
    for start in range(0, count, CV2_MAX_CHANNELS):
        chunk = np.ascontiguousarray(masks_hwk[:, :, start : start + CV2_MAX_CHANNELS])
        if chunk.shape[:2] != (out_h, out_w):
            # cv2 drops a single channel axis; put it back.
            chunk = cv2.resize(chunk, (out_w, out_h), interpolation=cv2.INTER_LINEAR).reshape(out_h, out_w, -1)
        out[start : start + chunk.shape[2]] = chunk.transpose(2, 0, 1)
    return out


class Augmenter:
    """The original ``SSDAugmentation`` (single images) and ``SSDAugmentationVideo`` (frames)."""

    def __init__(self, config: AugmentConfig | None = None, preprocess: PreprocessConfig | None = None) -> None:
        self.config = config if config is not None else AugmentConfig()
        self.preprocess = preprocess if preprocess is not None else PreprocessConfig()

    def __call__(self, sample: Sample, rng: np.random.Generator) -> AugmentedSample | None:
        """Augment one training image; None when no non-crowd GT is left (the caller resamples)."""
        params = self.draw_params(sample.image.shape, sample.boxes, sample.crowd, rng)
        return self.apply(sample, params)

    def draw_params(
        self, image_shape: Sequence[int], boxes: np.ndarray, crowd: np.ndarray, rng: np.random.Generator
    ) -> AugmentParams:
        """Draw every random choice once; ``boxes``/``crowd`` (absolute pixels) steer the crop."""
        cfg = self.config
        shape = (int(image_shape[0]), int(image_shape[1]))
        photometric = draw_photometric(rng) if cfg.photometric else None
        canvas, offset = shape, (0, 0)
        if cfg.expand and rng.random() < 0.5:
            canvas, offset = draw_expand(shape, cfg.expand_max_ratio, rng)
        crop = None
        if cfg.crop:
            shift = np.array([offset[1], offset[0], offset[1], offset[0]], np.float32)
            canvas_boxes = np.asarray(boxes, np.float32).reshape(-1, 4) + shift
            crop = draw_crop(canvas, canvas_boxes, crowd, rng)
        mirror = bool(cfg.mirror and rng.random() < 0.5)
        return AugmentParams(shape, photometric, canvas, offset, crop, mirror)

    def apply(self, sample: Sample, params: AugmentParams, require_gt: bool = True) -> AugmentedSample | None:
        """Apply drawn parameters to one sample (no randomness).

        Returns None if ``require_gt`` and no non-crowd GT survives; pass ``require_gt=False`` for
        an unannotated reference frame.
        """
        image = to_bgr_uint8(sample.image)
        height, width = image.shape[:2]
        if (height, width) != params.image_shape:
            raise ValueError(f"image is {height}x{width} but the parameters were drawn for {params.image_shape}")
        count = len(sample)
        if sample.masks.shape != (count, height, width) or sample.boxes.shape != (count, 4):
            raise ValueError(
                f"targets do not match the image: boxes {sample.boxes.shape}, masks {sample.masks.shape}, "
                f"{count} labels, image {height}x{width}"
            )
        out_h, out_w = self.preprocess.input_size

        if params.photometric is not None:
            pixels = photometric_distort(image, params.photometric)  # returns a float32 copy
        else:
            pixels = image.astype(np.float32)

        # Expand + crop as one window of the canvas; boxes move to window coordinates.
        canvas_h, canvas_w = params.canvas_shape
        top, left = params.offset
        rect = params.crop if params.crop is not None else (0, 0, canvas_w, canvas_h)
        boxes = sample.boxes.astype(np.float32).reshape(-1, 4) + np.array([left, top, left, top], np.float32)
        boxes[:, 0::2] = np.clip(boxes[:, 0::2], 0.0, canvas_w)
        boxes[:, 1::2] = np.clip(boxes[:, 1::2], 0.0, canvas_h)
        keep = centres_inside(boxes, rect) if params.crop is not None else np.ones(count, bool)
        boxes = boxes[keep]
        boxes[:, 0::2] = np.clip(boxes[:, 0::2], rect[0], rect[2]) - rect[0]
        boxes[:, 1::2] = np.clip(boxes[:, 1::2], rect[1], rect[3]) - rect[1]
        win_h, win_w = rect[3] - rect[1], rect[2] - rect[0]

        mean = np.asarray(self.preprocess.mean, np.float32)
        pixels = resize_bgr(_canvas_window(pixels, params.offset, rect, mean), (out_h, out_w))
        masks_hwk = sample.masks[keep].astype(np.uint8, copy=False).transpose(1, 2, 0)
        masks = resize_masks(_canvas_window(masks_hwk, params.offset, rect, 0), (out_h, out_w))
        boxes *= np.array([out_w / win_w, out_h / win_h, out_w / win_w, out_h / win_h], np.float32)

        # Mirror after the resize: the half-pixel bilinear resize is symmetric, so this equals
        # mirror-then-resize (up to float rounding) and flips the small array, not the large one.
        if params.mirror:
            pixels = pixels[:, ::-1]
            masks = masks[:, :, ::-1]
            boxes = np.stack([out_w - boxes[:, 2], boxes[:, 1], out_w - boxes[:, 0], boxes[:, 3]], 1)

        # Tiny-box rule in network-input pixels (the original compares pixels with 4/550).
        size_ok = (boxes[:, 2] - boxes[:, 0] >= self.config.min_box_size) & (
            boxes[:, 3] - boxes[:, 1] >= self.config.min_box_size
        )
        labels = sample.labels[keep][size_ok]
        crowd = sample.crowd.astype(bool)[keep][size_ok]
        if require_gt and not (~crowd).any():
            return None
        boxes = boxes[size_ok] / np.array([out_w, out_h, out_w, out_h], np.float32)
        return AugmentedSample(
            image=normalize_resized(pixels, self.preprocess),
            boxes=np.clip(boxes, 0.0, 1.0).astype(np.float32),
            labels=labels.astype(np.int64),
            masks=np.ascontiguousarray(masks[size_ok]),
            crowd=crowd,
            image_id=sample.image_id,
            path=sample.path,
        )

    def augment_frames(
        self, frames: Sequence[Sample | np.ndarray], rng: np.random.Generator
    ) -> list[AugmentedSample] | None:
        """Augment the frames of one video sample with one shared draw of the parameters.

        A frame may be a bare image or a ``Sample`` with zero boxes (an unannotated reference
        frame). The crop is decided from the first annotated frame. Returns None if any annotated
        frame is left without non-crowd GT (the original resamples the video then).
        """
        samples = [frame if isinstance(frame, Sample) else _image_only(frame) for frame in frames]
        if not samples:
            raise ValueError("augment_frames needs at least one frame")
        shapes = {s.image.shape[:2] for s in samples}
        if len(shapes) != 1:
            raise ValueError(f"all frames of a sample must have the same size, got {sorted(shapes)}")
        guide = next((s for s in samples if len(s) > 0), samples[0])
        params = self.draw_params(guide.image.shape, guide.boxes, guide.crowd, rng)
        out = []
        for sample in samples:
            augmented = self.apply(sample, params, require_gt=len(sample) > 0)
            if augmented is None:
                return None
            out.append(augmented)
        return out


def _image_only(image: np.ndarray) -> Sample:
    """Wrap a bare frame as a Sample without annotations."""
    height, width = image.shape[:2]
    return Sample(image, *Sample.empty_targets(height, width))
