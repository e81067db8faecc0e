"""A moving scene: a panning/zooming camera over a large background with objects that move,
rotate, scale, enter, leave and occlude each other.

Every layer's pose at frame t is a closed-form function of t (``VideoScene.poses``), so frames can
be rendered in any order and the optical flow between frames is exact.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from yolactedge.data.synth.effects import Photometric, apply_photometric, sample_photometric
from yolactedge.data.synth.layers import (
    Layer,
    make_background_layer,
    make_clutter_layer,
    make_object_layer,
    similarity,
    translation,
)
from yolactedge.data.synth.render import render_layers
from yolactedge.data.synth.shapes import SHAPE_CLASSES, draw_object_size

BACKGROUND_SCALE = 2.0  # background canvas size relative to the frame


@dataclass(frozen=True)
class Trajectory:
    """Smooth 1-D motion: start + velocity * t + amplitude * sin(omega * t + phase)."""

    start: float
    velocity: float = 0.0
    amplitude: float = 0.0
    omega: float = 0.0
    phase: float = 0.0

    def at(self, t: float) -> float:
        return self.start + self.velocity * t + self.amplitude * np.sin(self.omega * t + self.phase)

    @staticmethod
    def random(rng: np.random.Generator, start: float, velocity: float, amplitude: float) -> "Trajectory":
        return Trajectory(start, velocity, rng.uniform(0, amplitude), rng.uniform(0.05, 0.3), rng.uniform(0, 2 * np.pi))


@dataclass(frozen=True)
class Motion:
    """Pose over time: position (x, y), rotation (radians) and log-scale trajectories."""

    x: Trajectory
    y: Trajectory
    angle: Trajectory
    log_scale: Trajectory

    def pose(self, t: float) -> np.ndarray:
        return similarity(self.x.at(t), self.y.at(t), self.angle.at(t), float(np.exp(self.log_scale.at(t))))


@dataclass
class VideoScene:
    height: int
    width: int
    layers: list[Layer]  # layers[0] is the background canvas
    camera: Motion  # canvas point of interest, camera roll and zoom
    motions: list[Motion]  # world (canvas) pose of each layer after the background
    photometric: Photometric
    gain_drift: Trajectory
    motion_scale: float = 1.0  # scene time per frame: 0.5 = the same scene filmed at twice the frame rate

    def camera_matrix(self, t: float) -> np.ndarray:
        """Canvas -> image: the camera's point of interest goes to the frame centre."""
        t = t * self.motion_scale
        c = self.camera
        zoom = float(np.exp(c.log_scale.at(t)))
        view = similarity(self.width / 2.0, self.height / 2.0, c.angle.at(t), zoom)
        return view @ translation(-c.x.at(t), -c.y.at(t))

    def poses(self, t: float) -> list[np.ndarray]:
        cam = self.camera_matrix(t)
        return [cam] + [cam @ m.pose(t * self.motion_scale) for m in self.motions]

    def render(self, t: int, noise_rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(uint8 BGR frame, owner map) of frame ``t``."""
        canvas, owner = render_layers((self.height, self.width), self.layers, self.poses(t))
        gain = self.photometric.gain * float(np.exp(self.gain_drift.at(t * self.motion_scale)))
        camera = self.photometric.with_gain(gain)
        return apply_photometric(canvas, camera, noise_rng), owner

    @property
    def object_indices(self) -> list[int]:
        return [i for i, layer in enumerate(self.layers) if layer.label >= 0]


def _object_motion(rng: np.random.Generator, center: tuple[float, float], view: tuple[float, float],
                   num_frames: int) -> Motion:
    """Either a wanderer that starts in view, or a crosser that enters or leaves the frame."""
    cx, cy = center
    vw, vh = view
    steps = max(num_frames - 1, 1)
    if rng.random() < 0.6:
        x0, y0 = cx + rng.uniform(-0.45, 0.45) * vw, cy + rng.uniform(-0.45, 0.45) * vh
        speed = rng.uniform(0.0, 0.25) * min(vw, vh) / steps
        heading = rng.uniform(0, 2 * np.pi)
    else:
        heading = rng.uniform(0, 2 * np.pi)
        x0 = cx - np.cos(heading) * vw * rng.uniform(0.5, 0.8)
        y0 = cy - np.sin(heading) * vh * rng.uniform(0.5, 0.8)
        if rng.random() < 0.5:  # leaving instead of entering: start near the middle
            x0, y0 = cx + (cx - x0) * 0.2, cy + (cy - y0) * 0.2
        speed = rng.uniform(0.7, 1.3) * 0.9 * min(vw, vh) / steps
    wobble = 0.03 * min(vw, vh)
    return Motion(
        Trajectory.random(rng, x0, speed * np.cos(heading), wobble),
        Trajectory.random(rng, y0, speed * np.sin(heading), wobble),
        Trajectory.random(rng, rng.uniform(0, 2 * np.pi), rng.normal(0.0, 0.04), 0.2),
        Trajectory.random(rng, 0.0, rng.normal(0.0, 0.01), 0.15),
    )


def make_video_scene(
    rng: np.random.Generator,
    height: int,
    width: int,
    num_frames: int,
    photos: Sequence[np.ndarray] = (),
    max_objects: int = 6,
    motion_scale: float = 1.0,
) -> VideoScene:
    """A random scene; every motion (objects, camera, lighting drift) runs ``motion_scale`` times as
    fast per frame. The scene's content does not depend on ``motion_scale``: only its time axis is
    stretched."""
    if not (motion_scale > 0 and np.isfinite(motion_scale)):
        raise ValueError(f"motion_scale must be a positive number, got {motion_scale}")
    bh, bw = int(height * BACKGROUND_SCALE), int(width * BACKGROUND_SCALE)
    layers = [make_background_layer(rng, bh, bw, photos)]
    center = (bw / 2.0, bh / 2.0)
    steps = max(num_frames - 1, 1)
    pan = 0.25 * min(width, height) / steps
    heading = rng.uniform(0, 2 * np.pi)
    speed = rng.uniform(0.0, 1.0) * pan
    camera = Motion(
        Trajectory.random(rng, center[0], speed * np.cos(heading), 0.04 * width),
        Trajectory.random(rng, center[1], speed * np.sin(heading), 0.04 * height),
        Trajectory.random(rng, rng.normal(0.0, 0.05), rng.normal(0.0, 0.003), 0.03),
        Trajectory.random(rng, rng.uniform(0.0, 0.15), rng.normal(0.0, 0.004), 0.06),
    )
    motions: list[Motion] = []
    short = min(height, width)
    clutter = int(rng.integers(0, 3))
    for _ in range(clutter):  # static clutter on the background
        size = short * rng.uniform(0.08, 0.3)
        layers.append(make_clutter_layer(rng, size, size * rng.uniform(0.5, 1.5), photos))
        motions.append(Motion(Trajectory(center[0] + rng.uniform(-0.6, 0.6) * width),
                              Trajectory(center[1] + rng.uniform(-0.6, 0.6) * height),
                              Trajectory(rng.uniform(0, 2 * np.pi)), Trajectory(0.0)))
    for _ in range(int(rng.integers(2, max_objects + 1))):
        label = int(rng.integers(len(SHAPE_CLASSES)))
        size = short * float(np.exp(rng.uniform(np.log(0.1), np.log(0.45))))
        w, h = draw_object_size(rng, SHAPE_CLASSES[label], size)
        layers.append(make_object_layer(rng, label, w, h, photos))
        motions.append(_object_motion(rng, center, (width, height), num_frames))
    order = np.concatenate([[0], 1 + rng.permutation(len(motions))])  # random depth order
    layers = [layers[i] for i in order]
    motions = [motions[i - 1] for i in order[1:]]
    photometric = sample_photometric(rng, strength=0.8, allow_motion_blur=False)
    drift = Trajectory.random(rng, 0.0, 0.0, 0.08)
    return VideoScene(height, width, layers, camera, motions, photometric, drift, float(motion_scale))
