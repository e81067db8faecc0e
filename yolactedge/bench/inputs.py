"""What a benchmark runs on: generated images (default), in-memory images, image files or a video.

Files are decoded again on every pass, so decoding is measured like the rest of the end-to-end
path; a video pass also encodes the drawn frames into a throw-away file (decode -> inference ->
drawing -> encode, what a video deployment does per frame).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import cv2
import numpy as np

from yolactedge.data.sources import Frame, SourceError, load_source

GLOB_CHARS = "*?["


class BenchmarkError(ValueError):
    """A benchmark request that cannot run as given (unknown backend, missing source, ...)."""


@dataclass
class BenchInput:
    """Frames of one pass (the same frames for every engine and round)."""

    kind: str  # "generated", "arrays", "images" or "video"
    description: str
    count: int  # frames per pass
    path: str | None = None
    arrays: list[np.ndarray] = field(default_factory=list)
    fps: float | None = None

    @property
    def from_files(self) -> bool:
        """Decoding is part of a pass (image files, video)."""
        return self.path is not None

    @property
    def is_video(self) -> bool:
        return self.kind == "video"

    def frames(self) -> Iterator[tuple[Frame, float]]:
        """One pass: (frame, decode milliseconds). In-memory images cycle up to ``count``."""
        if self.path is None:
            for i in range(self.count):
                image = self.arrays[i % len(self.arrays)]
                yield Frame(image=image, name=f"image_{i:04d}", index=i, source=self.kind), 0.0
            return
        source = load_source(self.path)
        iterator = iter(source)
        try:
            for _ in range(self.count):
                start = time.perf_counter()
                frame = next(iterator, None)
                decode_ms = (time.perf_counter() - start) * 1e3
                if frame is None:
                    break
                yield frame, decode_ms
        finally:
            source.close()

    def calibration_source(self) -> str | None:
        """The files themselves calibrate INT8 engines; generated or in-memory images do not."""
        return self.path

    def summary(self) -> dict[str, Any]:
        return {"kind": self.kind, "description": self.description, "frames_per_pass": self.count,
                "path": self.path, "fps": self.fps}


def generated_images(count: int, size: tuple[int, int], seed: int) -> list[np.ndarray]:
    """Synthetic scenes (textured shapes on clutter), seeded: the same images for every run."""
    from yolactedge.data.synth import generate_image

    return [generate_image(seed, i, image_size=size).image for i in range(count)]


def open_input(source: Any, frames: int, size: tuple[int, int] = (480, 640), seed: int = 0) -> BenchInput:
    """Check ``source`` up front (before minutes of exports) and describe one pass over it.

    ``source``: None (generated images), a BGR uint8 array or a list of them, or a path to an
    image, a folder, a glob, a ``.txt`` list or a video file.
    """
    if frames < 1:
        raise BenchmarkError(f"frames per pass must be >= 1, got {frames}")
    if source is None:
        return BenchInput("generated", f"{frames} generated images {size[0]}x{size[1]} (seed {seed})", frames,
                          arrays=generated_images(frames, size, seed))
    if isinstance(source, np.ndarray):
        source = [source]
    if isinstance(source, (list, tuple)) and source and all(isinstance(a, np.ndarray) for a in source):
        _check_arrays(source)
        shape = source[0].shape
        return BenchInput("arrays", f"{len(source)} in-memory image(s) {shape[0]}x{shape[1]}", frames,
                          arrays=list(source))
    if not isinstance(source, (str, os.PathLike)):
        raise BenchmarkError(f"unsupported benchmark source {type(source).__name__}: pass a path (images, folder, "
                             "glob, video) or BGR uint8 numpy images")
    text = os.fspath(source)
    if not Path(text).exists() and not any(c in text for c in GLOB_CHARS):
        raise BenchmarkError(f"source {text!r} does not exist")
    try:
        probe = load_source(text)
    except SourceError as exc:
        raise BenchmarkError(f"source {text!r}: {exc}") from exc
    try:
        if getattr(probe, "is_video", False):
            return _video_input(text, probe, frames)
        available = probe.expected_length
    finally:
        probe.close()
    if available == 0:
        raise BenchmarkError(f"source {text!r} holds no readable images")
    count = frames if available is None else min(frames, available)
    return BenchInput("images", f"{count} images from {text}", count, path=text)


def _video_input(path: str, probe: Any, frames: int) -> BenchInput:
    length = probe.expected_length
    count = frames if length is None else min(frames, length)
    if count < 1:
        raise BenchmarkError(f"video {path!r} has no frames")
    first = next(iter(probe), None)
    if first is None:
        raise BenchmarkError(f"video {path!r}: no frame could be decoded")
    height, width = first.image.shape[:2]
    return BenchInput("video", f"first {count} frames of video {path} ({width}x{height})", count, path=path,
                      fps=probe.fps)


def _check_arrays(arrays: Sequence[np.ndarray]) -> None:
    for i, image in enumerate(arrays):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise BenchmarkError(f"image {i}: expected HxWx3 BGR uint8, got {image.dtype} {tuple(image.shape)}")


def write_calibration_images(folder: Path, count: int, size: tuple[int, int], seed: int) -> Path:
    """Generated calibration images (a different seed from the timed ones) for INT8 exports."""
    from yolactedge.data.synth import generate_image

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        path = folder / f"{i:04d}.jpg"
        if not path.is_file():
            cv2.imwrite(str(path), generate_image(seed + 1000, i, image_size=size).image)
    return folder
