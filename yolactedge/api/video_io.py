"""Writing annotated videos and showing windows without crashing on headless machines.

OpenCV silently produces an empty file when a writer cannot open or a frame has the wrong size,
and ``cv2.imshow`` aborts with "cannot connect to X server" on servers and Colab; both are turned
into clear errors or warnings here.
"""
from __future__ import annotations

import math
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from yolactedge.data.image_io import read_image, to_bgr_uint8

FOURCC_BY_EXTENSION = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}
DEFAULT_FPS = 30.0


class VideoWriteError(RuntimeError):
    """The output video could not be opened or written."""


class VideoSink:
    """Write BGR frames of one fixed ``size`` = (width, height) to ``path``.

    The codec follows the extension (mp4v for .mp4/.m4v/.mov, MJPG for .avi/.mkv). ``fps`` that is
    None, zero or not finite (common for webcams and streams) falls back to 30 with a warning.
    """

    def __init__(self, path: str | os.PathLike, fps: float | None, size: tuple[int, int]) -> None:
        self.path = Path(path)
        ext = self.path.suffix.lower()
        if ext not in FOURCC_BY_EXTENSION:
            raise VideoWriteError(
                f"Cannot write video {str(self.path)!r}: unsupported extension {ext or '(none)'!r}; "
                f"use one of {', '.join(sorted(FOURCC_BY_EXTENSION))}"
            )
        width, height = (int(v) for v in size)
        if width <= 0 or height <= 0:
            raise VideoWriteError(
                f"Cannot write video {str(self.path)!r}: size must be (width, height) > 0, got {size}"
            )
        if fps is None or not math.isfinite(fps) or fps <= 0:
            warnings.warn(
                f"Video fps {fps!r} is unknown or invalid; writing {self.path.name} at {DEFAULT_FPS:g} fps",
                stacklevel=2,
            )
            fps = DEFAULT_FPS
        self.size = (width, height)
        self.fps = float(fps)
        self.codec = FOURCC_BY_EXTENSION[ext]
        self.frames_written = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer: cv2.VideoWriter | None = cv2.VideoWriter(
            str(self.path), cv2.VideoWriter_fourcc(*self.codec), self.fps, self.size
        )
        if not self._writer.isOpened():
            self._writer.release()
            self._writer = None
            raise VideoWriteError(
                f"Cannot open video writer for {str(self.path)!r} (codec {self.codec}, {width}x{height} @ "
                f"{self.fps:g} fps): check the folder is writable and OpenCV has FFmpeg support; "
                "writing to .avi (MJPG) is the most portable choice"
            )

    def write(self, frame: np.ndarray) -> None:
        """Append one frame; it must match the size given at construction (no silent resizing)."""
        if self._writer is None:
            raise VideoWriteError(f"Video {str(self.path)!r} is already closed; create a new VideoSink")
        image = to_bgr_uint8(frame, f"frame {self.frames_written} for {self.path.name}")
        height, width = image.shape[:2]
        if (width, height) != self.size:
            raise VideoWriteError(
                f"Frame {self.frames_written} is {width}x{height} but {self.path.name} was opened for "
                f"{self.size[0]}x{self.size[1]}; resize frames or open the sink with the frame size"
            )
        self._writer.write(image)
        self.frames_written += 1

    def close(self) -> None:
        """Finish the file; safe to call twice."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None

    @property
    def closed(self) -> bool:
        return self._writer is None

    def __enter__(self) -> VideoSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        path = str(self.path)
        return f"VideoSink({path!r}, fps={self.fps:g}, size={self.size}, frames={self.frames_written})"


def frames_to_video(frames: Sequence[str | os.PathLike], path: str | os.PathLike, fps: float = DEFAULT_FPS) -> Path:
    """Encode image files, in the given order, as one video file (codec from the extension).

    A folder of frames (e.g. a YouTube-VIS video's ``JPEGImages/<video>/``) is read as still
    images: no keyframe scheduling, no tracking. As a video file it is predicted as a video.
    """
    if not frames:
        raise VideoWriteError(f"Cannot write video {str(path)!r}: no frames given")
    first = read_image(frames[0])
    with VideoSink(path, fps, first.shape[1::-1]) as sink:
        sink.write(first)
        for frame in frames[1:]:
            sink.write(read_image(frame))
    return sink.path


def has_display() -> bool:
    """False on Linux without DISPLAY/WAYLAND_DISPLAY (servers, containers, Colab); True elsewhere."""
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def resolve_show(show: bool) -> bool:
    """Turn a requested ``show=True`` off with a warning when no display exists, instead of crashing."""
    if show and not has_display():
        warnings.warn(
            "show=True ignored: no display found (DISPLAY/WAYLAND_DISPLAY unset); save results instead",
            stacklevel=2,
        )
        return False
    return bool(show)


def show_image(image: np.ndarray, window: str = "yolactedge", wait_ms: int = 1) -> bool:
    """Show ``image`` in a window; returns False (with a warning) if no GUI is available.

    A headless OpenCV build (opencv-python-headless) has no window support even with a display.
    """
    if not resolve_show(True):
        return False
    try:
        cv2.imshow(window, image)
        cv2.waitKey(wait_ms)
    except cv2.error as err:
        reason = str(err).strip()[:120]
        warnings.warn(f"Cannot show window {window!r}: OpenCV has no GUI support ({reason})", stacklevel=2)
        return False
    return True
