"""Images for export-time parity checks: the user's (validation or calibration images) or, when
there are none, generated scenes - natural-looking structure exercises the network far better
than noise. For video presets frames alternate keyframe / current frame of a moving pair."""
from __future__ import annotations

from itertools import islice
from typing import Any, Iterable

import numpy as np

from yolactedge.config.schema import ModelConfig
from yolactedge.data.sources import load_source


def generated_frames(config: ModelConfig, count: int, seed: int = 0) -> list[np.ndarray]:
    """``count`` synthetic BGR images at the input size; video presets get (keyframe, moved frame) pairs."""
    from yolactedge.data.synth import generate_flow_pair, generate_image

    size = tuple(config.input_size)
    if not config.is_video:
        return [generate_image(seed, i, image_size=size).image for i in range(count)]
    frames: list[np.ndarray] = []
    index = 0
    while len(frames) < count:
        pair = generate_flow_pair(seed, index, image_size=size)
        frames += [pair.img2, pair.img1]  # img1(p) ~ img2(p + flow): img2 plays the keyframe
        index += 1
    return frames[:count]


def source_frames(source: Any, count: int) -> list[np.ndarray]:
    return [frame.image for frame in islice(load_source(source), count)]


def parity_frames(config: ModelConfig, count: int, source: Any = None,
                  fallback: Iterable[np.ndarray] | None = None) -> list[np.ndarray]:
    """From ``source`` if given, else the first ``count`` of ``fallback`` (calibration images), else generated."""
    if source is not None:
        frames = source_frames(source, count)
        if frames:
            return frames
    if fallback is not None:
        frames = list(islice(iter(fallback), count))
        if frames:
            return frames
    return generated_frames(config, count)
