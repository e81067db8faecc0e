"""Drawing instance masks, boxes and labels on BGR images, fast enough for video.

Masks are blended in one vectorised pass (the top-scoring instance wins where masks overlap),
so drawing cost does not grow with per-pixel Python work.
"""
from __future__ import annotations

import colorsys
from collections.abc import Sequence

import cv2
import numpy as np

Color = tuple[int, int, int]


def _make_palette(n: int) -> tuple[Color, ...]:
    """Well-separated saturated colours by stepping the hue with the golden ratio (deterministic)."""
    colors = []
    for i in range(n):
        hue = (0.07 + i * 0.618033988749895) % 1.0
        value = 0.95 if i % 2 == 0 else 0.75
        r, g, b = colorsys.hsv_to_rgb(hue, 0.85, value)
        colors.append((int(b * 255), int(g * 255), int(r * 255)))
    return tuple(colors)


PALETTE: tuple[Color, ...] = _make_palette(32)


def color_for(index: int) -> Color:
    """The fixed BGR colour of a class index or track id, stable across frames and runs."""
    return PALETTE[int(index) % len(PALETTE)]


def default_line_width(shape: Sequence[int]) -> int:
    """Line thickness that stays visible on large images and unobtrusive on small ones."""
    return max(1, round((shape[0] + shape[1]) / 2 * 0.003))


def draw_masks(
    image: np.ndarray, masks: np.ndarray, colors: Sequence[Color] | np.ndarray, alpha: float = 0.45
) -> np.ndarray:
    """Return a copy of ``image`` with boolean ``masks`` [N,H,W] tinted by ``colors`` [N,3] (BGR).

    Where masks overlap, the first mask (highest score in sorted results) is shown.
    """
    out = image.copy()
    masks = np.asarray(masks)
    if masks.size == 0 or masks.shape[0] == 0:
        return out
    if masks.shape[1:] != image.shape[:2]:
        raise ValueError(
            f"masks have size {masks.shape[1:]} but the image is {image.shape[:2]}; "
            "masks must be at image resolution"
        )
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    palette = np.asarray(colors, dtype=np.float32).reshape(-1, 3)
    if palette.shape[0] != masks.shape[0]:
        raise ValueError(f"got {palette.shape[0]} colours for {masks.shape[0]} masks")
    masks = masks.astype(bool, copy=False)
    covered = masks.any(axis=0)
    owner = masks.argmax(axis=0)  # index of the first True along N, i.e. the top instance per pixel
    pixels = out[covered].astype(np.float32)
    blended = pixels * (1.0 - alpha) + palette[owner[covered]] * alpha
    out[covered] = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
    return out


def draw_boxes_labels(
    image: np.ndarray,
    boxes: np.ndarray | None,
    colors: Sequence[Color],
    labels: Sequence[str] | None = None,
    line_width: int | None = None,
    draw_boxes: bool = True,
) -> np.ndarray:
    """Draw xyxy ``boxes`` and optional text ``labels`` in place on ``image`` and return it.

    Labels sit above the box when there is room, otherwise just inside its top edge.
    """
    if boxes is None or len(boxes) == 0:
        return image
    lw = line_width or default_line_width(image.shape)
    font = cv2.FONT_HERSHEY_SIMPLEX
    font_scale = max(lw / 3.0, 0.35)
    font_thick = max(lw - 1, 1)
    height, width = image.shape[:2]
    for i, box in enumerate(np.asarray(boxes, dtype=np.float32)):
        color = tuple(int(c) for c in colors[i])
        x1, y1, x2, y2 = (int(round(float(v))) for v in box)
        x1, x2 = sorted((min(max(x1, 0), width - 1), min(max(x2, 0), width - 1)))
        y1, y2 = sorted((min(max(y1, 0), height - 1), min(max(y2, 0), height - 1)))
        if draw_boxes:
            cv2.rectangle(image, (x1, y1), (x2, y2), color, lw, cv2.LINE_AA)
        if not labels or not labels[i]:
            continue
        (tw, th), baseline = cv2.getTextSize(labels[i], font, font_scale, font_thick)
        pad = max(lw, 2)
        outside = y1 - th - baseline - pad >= 0
        top = y1 - th - baseline - pad if outside else y1
        left = min(x1, max(width - tw - pad, 0))
        bottom_right = (left + tw + pad, top + th + baseline + pad)
        cv2.rectangle(image, (left, top), bottom_right, color, -1, cv2.LINE_AA)
        cv2.putText(
            image,
            labels[i],
            (left + pad // 2, top + th + pad // 2),
            font,
            font_scale,
            _text_color(color),
            font_thick,
            cv2.LINE_AA,
        )
    return image


def _text_color(background: Color) -> Color:
    """Black text on light label backgrounds, white on dark ones, for legibility."""
    b, g, r = background
    return (0, 0, 0) if 0.114 * b + 0.587 * g + 0.299 * r > 150 else (255, 255, 255)
