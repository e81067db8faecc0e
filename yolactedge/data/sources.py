"""One frame-source abstraction for every input kind, so predictors never care where pixels come from.

``load_source()`` accepts an image path, a folder, a glob, a list of paths, a ``.txt`` list, numpy
arrays (or a list / generator of them), a video file, a webcam index or a stream URL. Iterating the
returned ``FrameSource`` yields ``Frame`` records. Unreadable image files are skipped with a warning
and counted in ``FrameSource.stats`` instead of aborting a long folder run (upstream YE#191); videos
and streams stop cleanly when ``read()`` fails instead of trusting the frame count (upstream YE#22).
"""
from __future__ import annotations

import glob as globlib
import math
import os
import re
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from yolactedge.data.image_io import IMAGE_EXTENSIONS, ImageReadError, is_image_file, read_image, to_bgr_uint8

VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".ts", ".3gp", ".gif"}
)
STREAM_PREFIXES = ("rtsp://", "rtmp://", "http://", "https://")
_GLOB_CHARS = re.compile(r"[*?\[]")


class SourceError(ValueError):
    """An input source does not exist, cannot be opened or holds nothing to process."""


class SourceWarning(UserWarning):
    """A single input (e.g. one corrupt file) was skipped; the run goes on."""


@dataclass(frozen=True)
class Frame:
    """One image to process.

    image:    HxWx3 uint8 BGR
    name:     file name for images, ``f"{stem}_{index:06d}"`` for video/stream frames
    index:    position in the source; for videos the frame number in the stream (so ``vid_stride``
              leaves gaps), which keeps outputs aligned with the original timeline
    source:   the path / URL / ``"webcam:N"`` / ``"array"`` the frame came from
    is_video: True for video files, webcams and streams
    fps:      frame rate of the *yielded* frames (source fps / vid_stride), None when unknown
    """

    image: np.ndarray
    name: str
    index: int
    source: str
    is_video: bool = False
    fps: float | None = None


@dataclass
class SourceStats:
    """What happened while iterating, for the end-of-run "N processed, M skipped" report."""

    processed: int = 0
    skipped: int = 0
    skipped_files: list[str] = field(default_factory=list)

    def skip(self, item: str, reason: str) -> None:
        self.skipped += 1
        self.skipped_files.append(item)
        warnings.warn(f"Skipping {item}: {reason}", SourceWarning, stacklevel=3)

    def summary(self) -> str:
        return f"{self.processed} processed, {self.skipped} skipped"


class FrameSource:
    """Base class: an iterable of ``Frame`` with run statistics and an optional length.

    ``len()`` works only when the count is exact (image files, arrays). ``expected_length`` is the
    best guess for progress bars (for video files the container's frame count, which can be wrong).
    """

    is_video: bool = False

    def __init__(self, description: str, missing: list[str] | None = None) -> None:
        self.description = description
        self.missing = list(missing or [])  # entries of a list source that did not exist at load time
        self._stats = self._fresh_stats()

    @property
    def stats(self) -> SourceStats:
        """Counts for the current (or last) pass; list entries missing at load time count as skipped."""
        return self._stats

    def _fresh_stats(self) -> SourceStats:
        return SourceStats(skipped=len(self.missing), skipped_files=list(self.missing))

    @property
    def expected_length(self) -> int | None:
        return None

    def __iter__(self) -> Iterator[Frame]:
        raise NotImplementedError

    def __len__(self) -> int:
        raise TypeError(
            f"{type(self).__name__} for {self.description!r} has no exact length; "
            "use .expected_length (an estimate, may be None)"
        )

    def __bool__(self) -> bool:  # without this, bool() would call __len__ and raise for streams
        return True

    def close(self) -> None:
        """Release any device or file handle; safe to call twice."""

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.description!r})"


class ImageFilesSource(FrameSource):
    """Image files read lazily, one at a time; unreadable files are skipped and counted."""

    def __init__(self, paths: list[str], description: str, missing: list[str] | None = None) -> None:
        super().__init__(description, missing)
        self.paths = list(paths)

    @property
    def expected_length(self) -> int:
        return len(self.paths)

    def __len__(self) -> int:
        return len(self.paths)

    def __iter__(self) -> Iterator[Frame]:
        self._stats = stats = self._fresh_stats()
        for index, path in enumerate(self.paths):
            try:
                image = read_image(path)
            except ImageReadError as err:
                stats.skip(path, _read_failure_reason(path, err))
                continue
            except OSError as err:  # permission denied, path vanished mid-run, ...
                stats.skip(path, f"not a readable image ({err.strerror or err})")
                continue
            stats.processed += 1
            yield Frame(image=image, name=Path(path).name, index=index, source=path)


class ArraySource(FrameSource):
    """In-memory numpy images, converted up front so a bad dtype fails before any work is done."""

    def __init__(self, arrays: list[Any], description: str = "array") -> None:
        super().__init__(description)
        self.images = [_convert_array(arr, f"array {i}") for i, arr in enumerate(arrays)]

    @property
    def expected_length(self) -> int:
        return len(self.images)

    def __len__(self) -> int:
        return len(self.images)

    def __iter__(self) -> Iterator[Frame]:
        self._stats = stats = self._fresh_stats()
        for index, image in enumerate(self.images):
            stats.processed += 1
            yield Frame(image=image, name=f"array_{index:06d}", index=index, source="array")


class IterableArraySource(FrameSource):
    """A generator/iterator of numpy images (e.g. frames from another library); single pass, no length."""

    def __init__(self, iterable: Iterable[Any], description: str = "generator") -> None:
        super().__init__(description)
        self._iterable = iterable
        self._consumed = False

    def __iter__(self) -> Iterator[Frame]:
        if self._consumed:
            raise SourceError(f"Source {self.description!r} is a one-shot iterator and was already consumed")
        self._consumed = True
        for index, arr in enumerate(self._iterable):
            image = _convert_array(arr, f"generator item {index}")
            self._stats.processed += 1
            yield Frame(image=image, name=f"frame_{index:06d}", index=index, source=self.description)


class VideoSource(FrameSource):
    """A video file, webcam or network stream read through ``cv2.VideoCapture``.

    The capture is opened in the constructor so a wrong path / index / URL fails immediately.
    Iteration stops at the first failed ``read()``; the container frame count is only a hint.
    """

    is_video = True

    def __init__(self, target: str | int, *, vid_stride: int = 1, kind: str = "video") -> None:
        label = f"webcam:{target}" if kind == "webcam" else str(target)
        super().__init__(label)
        self.target = target
        self.kind = kind
        self.vid_stride = vid_stride
        self.stem = _video_stem(target, kind)
        self._cap: cv2.VideoCapture | None = None
        self._open()
        self.source_fps = _valid_fps(self._cap.get(cv2.CAP_PROP_FPS))
        count = self._cap.get(cv2.CAP_PROP_FRAME_COUNT)
        self.frame_count = int(count) if kind == "video" and math.isfinite(count) and count > 0 else None

    def _open(self) -> None:
        cap = cv2.VideoCapture(self.target)
        if not cap.isOpened():
            cap.release()
            hint = {
                "webcam": "check the camera is connected and not used by another program",
                "stream": "check the URL is reachable and the stream is live",
                "video": "check it is a valid video file whose codec OpenCV/FFmpeg supports",
            }[self.kind]
            raise SourceError(
                f"Cannot open source {self.description!r}: is the webcam index / URL / codec correct? ({hint})"
            )
        self._cap = cap

    @property
    def fps(self) -> float | None:
        return None if self.source_fps is None else self.source_fps / self.vid_stride

    @property
    def expected_length(self) -> int | None:
        if self.frame_count is None:
            return None
        return -(-self.frame_count // self.vid_stride)

    def __iter__(self) -> Iterator[Frame]:
        if self._cap is None:  # a second pass over a file reopens it
            self._open()
        cap = self._cap
        fps = self.fps
        self._stats = stats = self._fresh_stats()
        index = 0
        try:
            while True:
                ok, image = cap.read()
                if not ok or image is None:
                    break
                stats.processed += 1
                yield Frame(
                    image=to_bgr_uint8(image, f"{self.description} frame {index}"),
                    name=f"{self.stem}_{index:06d}",
                    index=index,
                    source=self.description,
                    is_video=True,
                    fps=fps,
                )
                index += 1
                for _ in range(self.vid_stride - 1):  # grab() skips decoding, cheaper than read()
                    if not cap.grab():
                        return
                    index += 1
        finally:
            self.close()
            if stats.processed == 0:
                warnings.warn(
                    f"Source {self.description!r} opened but returned no frames "
                    "(empty or unsupported video, or the stream dropped)",
                    SourceWarning,
                    stacklevel=2,
                )

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class ChainSource(FrameSource):
    """Several sources one after another (a list mixing image paths, folders and videos)."""

    def __init__(
        self, sources: list[FrameSource], description: str, missing: list[str] | None = None
    ) -> None:
        super().__init__(description, missing)
        self.sources = sources
        self.is_video = any(s.is_video for s in sources)

    @property
    def stats(self) -> SourceStats:
        own = self._fresh_stats()
        return SourceStats(
            processed=sum(s.stats.processed for s in self.sources),
            skipped=own.skipped + sum(s.stats.skipped for s in self.sources),
            skipped_files=own.skipped_files + [f for s in self.sources for f in s.stats.skipped_files],
        )

    @property
    def expected_length(self) -> int | None:
        lengths = [s.expected_length for s in self.sources]
        return None if any(n is None for n in lengths) else sum(lengths)

    def __iter__(self) -> Iterator[Frame]:
        for src in self.sources:
            yield from src

    def close(self) -> None:
        for src in self.sources:
            src.close()


def load_source(source: Any, *, vid_stride: int = 1) -> FrameSource:
    """Turn any supported input into a ``FrameSource``.

    Accepted: image path, folder, glob pattern, ``.txt`` file listing paths, list/tuple of paths,
    numpy BGR array or list of arrays, generator of arrays, video file, webcam index (``0`` or
    ``"0"``), or ``rtsp://`` / ``rtmp://`` / ``http(s)://`` URL. ``vid_stride`` keeps every n-th
    video frame. Raises ``SourceError`` with what was wrong and what to check.
    """
    if isinstance(vid_stride, bool) or not isinstance(vid_stride, int) or vid_stride < 1:
        raise SourceError(f"vid_stride must be an integer >= 1, got {vid_stride!r}")
    if isinstance(source, FrameSource):
        return source
    if isinstance(source, bool):
        raise SourceError(f"Source {source!r} is a bool; pass a webcam index as an int, e.g. 0")
    if isinstance(source, (int, np.integer)):
        return VideoSource(int(source), vid_stride=vid_stride, kind="webcam")
    if isinstance(source, np.ndarray):
        return ArraySource([source])
    if isinstance(source, (str, os.PathLike)):
        return _load_string(os.fspath(source), vid_stride)
    if isinstance(source, (list, tuple)):
        return _load_list(list(source), vid_stride, description=f"list of {len(source)}")
    if isinstance(source, Iterator):
        return IterableArraySource(source)
    raise SourceError(
        f"Unsupported source type {type(source).__name__}. Pass a path, folder, glob, .txt list, "
        "video file, webcam index, stream URL, numpy HxWx3 BGR uint8 array, or a list of these "
        "(for a torch tensor use tensor.cpu().numpy() in HxWx3 BGR order)"
    )


def _load_string(text: str, vid_stride: int) -> FrameSource:
    stripped = text.strip()
    if not stripped:
        raise SourceError("Source is an empty string; pass a path, folder, glob, webcam index or URL")
    if stripped.isdigit():
        return VideoSource(int(stripped), vid_stride=vid_stride, kind="webcam")
    if stripped.lower().startswith(STREAM_PREFIXES):
        return VideoSource(stripped, vid_stride=vid_stride, kind="stream")
    path = Path(text).expanduser()
    if path.is_dir():
        return _load_folder(path)
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix in VIDEO_EXTENSIONS:
            return VideoSource(str(path), vid_stride=vid_stride, kind="video")
        if suffix == ".txt":
            return _load_list(_read_list_file(path), vid_stride, description=str(path))
        return ImageFilesSource([str(path)], description=str(path))
    if _GLOB_CHARS.search(text):
        matches = sorted(globlib.glob(str(path), recursive=True), key=_natural_key)
        images = [m for m in matches if os.path.isfile(m) and is_image_file(m)]
        if not images:
            raise SourceError(f"Glob {text!r} matched no image files ({len(matches)} matches in total)")
        return ImageFilesSource(images, description=text)
    raise SourceError(f"Source {text!r} does not exist: check the path (relative to {os.getcwd()!r})")


def _load_folder(folder: Path) -> FrameSource:
    """Images directly inside ``folder`` in natural order (img2 before img10); other files are ignored."""
    images = sorted((str(p) for p in folder.iterdir() if p.is_file() and is_image_file(p)), key=_natural_key)
    if not images:
        raise SourceError(
            f"Source folder {str(folder)!r} contains no images (looked for "
            f"{', '.join(sorted(IMAGE_EXTENSIONS))}; subfolders are not searched)"
        )
    return ImageFilesSource(images, description=str(folder))


def _load_list(items: list[Any], vid_stride: int, description: str) -> FrameSource:
    if not items:
        raise SourceError(f"Source {description!r} is an empty list; nothing to process")
    if all(isinstance(x, np.ndarray) for x in items):
        return ArraySource(items, description=description)
    bad = [x for x in items if not isinstance(x, (str, os.PathLike, np.ndarray))]
    if bad:
        raise SourceError(
            f"Source list items must be paths or numpy arrays; got {type(bad[0]).__name__} ({bad[0]!r:.60})"
        )
    # Group consecutive image paths into one lazy reader; anything else (video, folder, URL) gets its own.
    sources: list[FrameSource] = []
    pending: list[str] = []
    missing: list[str] = []
    for item in items:
        if isinstance(item, np.ndarray):
            _flush(pending, sources)
            sources.append(ArraySource([item]))
            continue
        text = os.fspath(item)
        if not _is_plain_image_path(text):
            _flush(pending, sources)
            sources.append(_load_string(text, vid_stride))
        elif os.path.isfile(text):
            pending.append(text)
        else:
            missing.append(text)
            warnings.warn(f"Skipping {text}: does not exist", SourceWarning, stacklevel=3)
    _flush(pending, sources)
    if not sources:
        raise SourceError(f"Source {description!r}: none of the {len(items)} listed files exist")
    if len(sources) == 1 and isinstance(sources[0], ImageFilesSource):
        return ImageFilesSource(sources[0].paths, description=description, missing=missing)
    if len(sources) == 1 and not missing:
        return sources[0]
    return ChainSource(sources, description, missing=missing)


def _flush(pending: list[str], sources: list[FrameSource]) -> None:
    if pending:
        sources.append(ImageFilesSource(list(pending), description=f"{len(pending)} image files"))
        pending.clear()


def _is_plain_image_path(text: str) -> bool:
    """True for list entries read as image files: not a URL, webcam, video, folder, list file or glob."""
    if text.strip().isdigit() or text.lower().startswith(STREAM_PREFIXES):
        return False
    suffix = Path(text).suffix.lower()
    if suffix in VIDEO_EXTENSIONS or suffix == ".txt" or os.path.isdir(text):
        return False
    is_glob = _GLOB_CHARS.search(text) is not None and not os.path.exists(text)
    return not is_glob


def _read_list_file(path: Path) -> list[str]:
    """Non-empty, non-comment lines; relative entries resolve against the list file's folder first."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as err:
        raise SourceError(f"Source list {str(path)!r} is not UTF-8 text ({err}); save it as UTF-8") from err
    entries = []
    for line in lines:
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        if not (entry.isdigit() or entry.lower().startswith(STREAM_PREFIXES) or os.path.isabs(entry)):
            beside = path.parent / entry
            if beside.exists() or not os.path.exists(entry):
                entry = str(beside)
        entries.append(entry)
    if not entries:
        raise SourceError(
            f"Source list {str(path)!r} lists no paths (blank lines and # comments are ignored)"
        )
    return entries


def _convert_array(arr: Any, name: str) -> np.ndarray:
    try:
        return to_bgr_uint8(arr, name)
    except ImageReadError as err:
        raise SourceError(f"Cannot use {err}") from err


def _read_failure_reason(path: str, err: ImageReadError) -> str:
    text = str(err)
    prefix = f"{Path(path)}: "
    detail = text[len(prefix):] if text.startswith(prefix) else text
    if detail.startswith("not a readable image"):
        return "not a readable image"
    return f"not a readable image ({detail})"


def _video_stem(target: str | int, kind: str) -> str:
    if kind == "webcam":
        return f"webcam{target}"
    if kind == "video":
        return Path(str(target)).stem
    tail = str(target).split("://", 1)[-1].split("?", 1)[0].rstrip("/")
    last = tail.rsplit("/", 1)[-1] if "/" in tail else tail
    return "stream_" + (re.sub(r"[^A-Za-z0-9_-]+", "_", last).strip("_") or "live")


def _valid_fps(value: float) -> float | None:
    """OpenCV reports 0, NaN or absurd values for many webcams and streams."""
    return float(value) if math.isfinite(value) and 0 < value <= 1000 else None


def _natural_key(text: str) -> list[Any]:
    parts = re.split(r"(\d+)", text)
    return [(0, int(p), "") if p.isdigit() else (1, 0, p.lower()) for p in parts]

