"""Colour jitter of the original ``PhotometricDistort`` (SSD lineage), on float BGR images.

Brightness +-32 (p 0.5), then with p 0.5 either
[contrast -> HSV -> saturation -> hue -> BGR] or [HSV -> saturation -> hue -> BGR -> contrast],
contrast x U(0.5,1.5), saturation x U(0.5,1.5) and hue +-18 degrees each applied with p 0.5.
The original's channel-swap noise is disabled there and is not implemented here.

Fixes against the original (they change results):

* OpenCV's float HSV has H in degrees [0, 360), S in [0, 1] and V in the input's scale. The
  original feeds it values outside [0, 255] (brightness and contrast are not clipped), where S
  exceeds 1 or V goes negative, and lets saturation x1.5 push S above 1; HSV->BGR then returns
  negative channel values. Here the image is clipped to [0, 255] before BGR->HSV, S is clipped to
  [0, 1] and H is wrapped modulo 360, so the colour round trip stays inside the gamut.
* The output is clipped to [0, 255] (the original leaves e.g. 255 + 32 in the image).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = [
    "PhotometricParams",
    "adjust_hsv",
    "bgr_to_hsv",
    "draw_photometric",
    "hsv_to_bgr",
    "photometric_distort",
]

BRIGHTNESS_DELTA = 32.0
CONTRAST_RANGE = (0.5, 1.5)
SATURATION_RANGE = (0.5, 1.5)
HUE_DELTA = 18.0  # degrees: cv2 float HSV has H in [0, 360)


@dataclass(frozen=True)
class PhotometricParams:
    """One draw of the colour jitter; the defaults are the identity (an op that was not applied)."""

    brightness: float = 0.0  # added to every channel
    contrast: float = 1.0  # multiplies every channel
    contrast_first: bool = True  # which of the two orders the original picks with p 0.5
    saturation: float = 1.0  # multiplies S
    hue: float = 0.0  # added to H, degrees


def _maybe_uniform(rng: np.random.Generator, low: float, high: float, neutral: float) -> float:
    """The original's ``if random.randint(2): x = uniform(low, high)``: applied with p 0.5."""
    return float(rng.uniform(low, high)) if rng.random() < 0.5 else neutral


def draw_photometric(rng: np.random.Generator) -> PhotometricParams:
    """Draw the jitter once, so every frame of a video sample gets the same colours."""
    brightness = _maybe_uniform(rng, -BRIGHTNESS_DELTA, BRIGHTNESS_DELTA, 0.0)
    contrast_first = bool(rng.random() < 0.5)
    contrast = _maybe_uniform(rng, *CONTRAST_RANGE, 1.0)
    saturation = _maybe_uniform(rng, *SATURATION_RANGE, 1.0)
    hue = _maybe_uniform(rng, -HUE_DELTA, HUE_DELTA, 0.0)
    return PhotometricParams(brightness, contrast, contrast_first, saturation, hue)


def bgr_to_hsv(image: np.ndarray) -> np.ndarray:
    """Float BGR in [0, 255] -> float32 HSV with H in [0, 360), S in [0, 1], V in [0, 255]."""
    return cv2.cvtColor(np.clip(image, 0.0, 255.0).astype(np.float32, copy=False), cv2.COLOR_BGR2HSV)


def hsv_to_bgr(hsv: np.ndarray) -> np.ndarray:
    """Inverse of :func:`bgr_to_hsv`."""
    return cv2.cvtColor(hsv.astype(np.float32, copy=False), cv2.COLOR_HSV2BGR)


def adjust_hsv(image: np.ndarray, saturation: float = 1.0, hue: float = 0.0) -> np.ndarray:
    """Scale saturation and rotate hue of a float BGR image; the result lies in [0, 255].

    The input is clipped to [0, 255] even when nothing changes, so the HSV stage always sees (and
    returns) a valid image whichever of the factors was drawn.
    """
    if saturation == 1.0 and hue == 0.0:
        return np.clip(image, 0.0, 255.0).astype(np.float32, copy=False)
    hsv = bgr_to_hsv(image)
    if saturation != 1.0:
        np.clip(hsv[:, :, 1] * saturation, 0.0, 1.0, out=hsv[:, :, 1])
    if hue != 0.0:
        np.mod(hsv[:, :, 0] + hue, 360.0, out=hsv[:, :, 0])
    return hsv_to_bgr(hsv)


def photometric_distort(image: np.ndarray, params: PhotometricParams) -> np.ndarray:
    """Apply one jitter draw to an HxWx3 BGR image; returns a new float32 image in [0, 255]."""
    out = np.array(image, dtype=np.float32, copy=True)
    if params.brightness != 0.0:
        out += np.float32(params.brightness)
    if params.contrast_first and params.contrast != 1.0:
        out *= np.float32(params.contrast)
    out = adjust_hsv(out, params.saturation, params.hue)
    if not params.contrast_first and params.contrast != 1.0:
        out *= np.float32(params.contrast)
    return np.clip(out, 0.0, 255.0, out=out)
