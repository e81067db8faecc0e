"""INT8 calibration data: images from any folder, video, glob, list or COCO json, preprocessed
exactly like inference, and each component's real inputs as the FP32 model produces them.

Fixes two bugs of the original: every sample keeps all its channels (the original calibrated on
channel 0 broadcast, spec section 13.2), and video pairs follow natural frame order (the original
paired an unsorted glob). Memory stays bounded: frames stream one at a time through the FP32
reference and each component's inputs are spooled to disk, to be fed to calibrators in strides.
"""
from __future__ import annotations

import hashlib
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
import torch

from yolactedge.config.schema import ModelConfig
from yolactedge.data.image_io import is_image_file
from yolactedge.data.preprocess import preprocess_image
from yolactedge.data.sources import SourceError, SourceWarning, load_source
from yolactedge.deploy.backends.pipeline import ComponentPipeline, PipelineTrace
from yolactedge.deploy.components import ComponentSpec

DEFAULT_COUNT = 100


class CalibrationError(ValueError):
    """INT8 was requested but there are no usable calibration images."""


def _no_images(where: str, detail: str = "contains 0 readable images") -> CalibrationError:
    return CalibrationError(
        f"INT8 needs calibration images: {where} {detail}; pass --calib DIR (an image folder, video, glob "
        "or COCO json) or use fp32/fp16"
    )


@dataclass
class CalibrationSet:
    """Up to ``count`` readable frames of a source; iterate it as often as needed (re-reads)."""

    source: Any
    description: str
    count: int
    digest: str
    is_sequence: bool
    _open: Callable[[], Iterable[np.ndarray]]

    def __iter__(self) -> Iterator[np.ndarray]:
        produced = 0
        for image in self._open():
            if produced >= self.count:
                break
            produced += 1
            yield image

    def summary(self) -> dict[str, Any]:
        return {"source": self.description, "count": self.count, "data_hash": self.digest,
                "sequence": self.is_sequence}


def _coco_image_paths(path: Path) -> list[str]:
    """Image files of a COCO-style json (``images[].file_name``), looked up next to the json."""
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CalibrationError(f"INT8 calibration source {path} is not a readable COCO json ({exc})") from exc
    names = [img.get("file_name", "") for img in data.get("images", []) if isinstance(img, dict)]
    if not names:
        raise _no_images(f"COCO json {str(path)!r}", "lists 0 images")
    roots = [path.parent, path.parent / "images", path.parent.parent / "images", path.parent.parent]
    for root in roots:
        if (root / names[0]).is_file():
            return [str(root / n) for n in names]
    raise _no_images(f"COCO json {str(path)!r}", f"lists images not found under {', '.join(map(str, roots))}")


def _frames_of(source: Any) -> tuple[Callable[[], Iterable[np.ndarray]], bool, str]:
    """(re-openable frame iterator, frames are a sequence (video), description)."""
    if isinstance(source, (str, os.PathLike)) and str(source).lower().endswith(".json"):
        paths = _coco_image_paths(Path(source))
        return (lambda: (f.image for f in load_source(paths))), False, str(source)
    try:
        probe = load_source(source)
    except SourceError as exc:
        where = f"folder {str(source)!r}" if isinstance(source, (str, os.PathLike)) and Path(source).is_dir() \
            else f"source {source!r}"
        detail = "contains 0 readable images" if "no image" in str(exc) else f"is unusable ({exc})"
        raise _no_images(where, detail) from exc
    is_video = bool(getattr(probe, "is_video", False))
    probe.close()
    return (lambda: (f.image for f in load_source(source))), is_video, str(getattr(probe, "description", source))


def load_calibration_set(source: Any, count: int = DEFAULT_COUNT, config: ModelConfig | None = None) -> CalibrationSet:
    """Check up front that ``source`` yields readable images and fingerprint what will be used.

    The digest covers the decoded pixels of the first ``count`` frames and the preprocessing, so
    a calibration cache entry is reused only for the very same data.
    """
    if source is None or (isinstance(source, str) and not source.strip()):
        raise CalibrationError("INT8 needs calibration images: no calibration source given; pass --calib DIR "
                               "(an image folder, video, glob or COCO json) or use fp32/fp16")
    if count < 1:
        raise CalibrationError(f"calibration count must be >= 1, got {count}")
    if isinstance(source, (str, os.PathLike)) and not str(source).lower().startswith(("rtsp:", "http:", "https:")):
        path = Path(source)
        if not path.exists() and not any(c in str(source) for c in "*?["):
            raise _no_images(f"{str(source)!r}", "does not exist")
        if path.is_dir() and not any(is_image_file(p) for p in path.iterdir() if p.is_file()):
            raise _no_images(f"folder {str(source)!r}")
    opener, is_video, description = _frames_of(source)
    digest = hashlib.sha256()
    if config is not None:
        digest.update(json.dumps(config.to_dict()["preprocess"], sort_keys=True).encode())
    found = 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SourceWarning)
        for image in opener():
            if found >= count:
                break
            digest.update(f"{image.shape}".encode())
            digest.update(np.ascontiguousarray(image).tobytes())
            found += 1
    if found == 0:
        skipped = sum(1 for w in caught if issubclass(w.category, SourceWarning))
        where = f"folder {description!r}" if Path(str(source)).is_dir() else f"source {description!r}"
        raise _no_images(where, f"contains 0 readable images ({skipped} unreadable skipped)" if skipped else
                         "contains 0 readable images")
    return CalibrationSet(source, description, found, digest.hexdigest(), is_video, opener)


# -- component inputs -----------------------------------------------------------------------------
class SampleSpool:
    """Component inputs on disk (one ``.npz`` per sample) so memory does not grow with the count."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self._counts: dict[str, int] = {}

    def add(self, component: str, arrays: dict[str, np.ndarray]) -> None:
        index = self._counts.get(component, 0)
        target = self.folder / component
        target.mkdir(parents=True, exist_ok=True)
        np.savez(target / f"{index:06d}.npz", **arrays)
        self._counts[component] = index + 1

    def count(self, component: str) -> int:
        return self._counts.get(component, 0)

    def samples(self, component: str) -> "SpoolView":
        return SpoolView(self.folder / component, self.count(component))


class SpoolView:
    """Re-iterable view of one component's samples (NNCF iterates its dataset more than once)."""

    def __init__(self, folder: Path, count: int):
        self.folder = folder
        self.count = count

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        for i in range(self.count):
            with np.load(self.folder / f"{i:06d}.npz") as data:
                yield {k: data[k] for k in data.files}

    def chunks(self, size: int) -> Iterator[list[dict[str, np.ndarray]]]:
        chunk: list[dict[str, np.ndarray]] = []
        for sample in self:
            chunk.append(sample)
            if len(chunk) == size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk


def traces_for_frames(
    reference: ComponentPipeline, frames: Iterable[np.ndarray], config: ModelConfig, keyframe_interval: int | None = None,
    batch: int = 1,
) -> Iterator[PipelineTrace]:
    """FP32 reference passes over frames, in order: a keyframe pass on every frame and, for video
    presets, a non-keyframe pass for frames between keyframes (warped from the last keyframe).

    Every frame feeds the keyframe-only components, so e.g. the backbone sees all images.
    ``batch`` > 1 repeats each frame (engines exported for a fixed batch see that batch).
    """
    interval = keyframe_interval or (config.flow.keyframe_interval if config.flow else 1)
    state = None
    for index, image in enumerate(frames):
        inputs = preprocess_image(image, config.preprocess).unsqueeze(0).repeat(batch, 1, 1, 1)
        with torch.inference_mode():
            if config.is_video and state is not None and index % interval != 0:
                yield reference.trace(inputs, state)[1]
            out, trace = reference.trace(inputs)
        if config.is_video and index % interval == 0:
            state = out.state
        yield trace


def spool_component_inputs(
    traces: Iterable[PipelineTrace], specs: Sequence[ComponentSpec], spool: SampleSpool,
    on_frame: Callable[[int], None] | None = None,
) -> None:
    """Save each wanted component's inputs from every trace where that component ran."""
    for i, trace in enumerate(traces):
        for spec in specs:
            if spec.name in trace.ran:
                spool.add(spec.name, {n: trace.tensors[n].detach().cpu().float().numpy() for n in spec.inputs})
        if on_frame is not None and trace.kind == "key":
            on_frame(i)
