"""Camera effects applied after compositing: lighting, contrast, gamma, blur and sensor noise.

Parameters are drawn once (per image, per video or per flow pair) and applied with a separate
noise generator, so a video can keep one "camera" while every frame gets fresh noise.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np


@dataclass(frozen=True)
class Photometric:
    gain: float = 1.0  # overall exposure
    color_gain: tuple[float, float, float] = (1.0, 1.0, 1.0)  # white-balance error (B, G, R)
    contrast: float = 1.0  # around mid-grey
    gamma: float = 1.0
    light_angle: float = 0.0  # direction of a linear illumination ramp
    light_strength: float = 0.0  # 0 = uniform lighting
    vignette: float = 0.0  # darkening at the corners, 0..1
    blur_sigma: float = 0.0  # Gaussian defocus, pixels
    motion_length: int = 0  # motion-blur kernel length, pixels (0 = none)
    motion_angle: float = 0.0
    noise_sigma: float = 0.0  # read noise, grey levels
    shot_noise: float = 0.0  # signal-dependent noise factor

    def with_gain(self, gain: float) -> "Photometric":
        return replace(self, gain=gain)


def sample_photometric(rng: np.random.Generator, strength: float = 1.0, allow_motion_blur: bool = True) -> Photometric:
    """Random camera conditions; ``strength`` scales how far they stray from ideal."""
    s = float(strength)
    blur = rng.uniform(0.3, 1.6) * s if rng.random() < 0.35 else 0.0
    motion = int(rng.integers(3, 8)) if allow_motion_blur and rng.random() < 0.12 * s else 0
    return Photometric(
        gain=float(np.exp(rng.normal(0.0, 0.25 * s))),
        color_gain=tuple(float(g) for g in np.exp(rng.normal(0.0, 0.06 * s, 3))),
        contrast=float(np.exp(rng.normal(0.0, 0.2 * s))),
        gamma=float(np.exp(rng.normal(0.0, 0.15 * s))),
        light_angle=float(rng.uniform(0, 2 * np.pi)),
        light_strength=float(rng.uniform(0.0, 0.35) * s),
        vignette=float(rng.uniform(0.0, 0.4) * s),
        blur_sigma=float(blur),
        motion_length=motion,
        motion_angle=float(rng.uniform(0, np.pi)),
        noise_sigma=float(rng.uniform(0.5, 6.0) * s),
        shot_noise=float(rng.uniform(0.0, 0.4) * s),
    )


def _illumination(height: int, width: int, p: Photometric) -> np.ndarray:
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    nx, ny = xs / max(width - 1, 1) - 0.5, ys / max(height - 1, 1) - 0.5
    ramp = nx * np.float32(np.cos(p.light_angle)) + ny * np.float32(np.sin(p.light_angle))
    light = 1.0 + np.float32(p.light_strength) * ramp * 2.0
    light *= 1.0 - np.float32(p.vignette) * (nx * nx + ny * ny) * 2.0
    return light


def _motion_kernel(length: int, angle: float) -> np.ndarray:
    kernel = np.zeros((length, length), np.float32)
    c = (length - 1) / 2.0
    dx, dy = np.cos(angle) * c, np.sin(angle) * c
    cv2.line(kernel, (round(c - dx), round(c - dy)), (round(c + dx), round(c + dy)), 1.0, 1, cv2.LINE_AA)
    return kernel / kernel.sum()


def apply_photometric(image: np.ndarray, p: Photometric, noise_rng: np.random.Generator) -> np.ndarray:
    """float32 BGR in 0..255 -> uint8 BGR with the camera effects of ``p``."""
    height, width = image.shape[:2]
    out = image.astype(np.float32, copy=True)
    out *= _illumination(height, width, p)[..., None]
    out *= (np.asarray(p.color_gain, np.float32) * np.float32(p.gain))[None, None, :]
    out = (out - 127.5) * np.float32(p.contrast) + 127.5
    out = np.clip(out, 0.0, 255.0)
    if p.gamma != 1.0:
        out = 255.0 * np.power(out / 255.0, np.float32(p.gamma))
    if p.blur_sigma > 0.05:
        out = cv2.GaussianBlur(out, (0, 0), p.blur_sigma, borderType=cv2.BORDER_REFLECT101)
    if p.motion_length > 1:
        out = cv2.filter2D(out, -1, _motion_kernel(p.motion_length, p.motion_angle),
                           borderType=cv2.BORDER_REFLECT101)
    if p.noise_sigma > 0 or p.shot_noise > 0:
        sigma = np.float32(p.noise_sigma) + np.float32(p.shot_noise) * np.sqrt(out)
        out += sigma * noise_rng.standard_normal(out.shape, dtype=np.float32)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
