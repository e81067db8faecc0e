"""YouTube-VIS results from tracked video predictions: one entry per track.

The format the official YouTube-VIS server and tools read (a JSON list of ``{"video_id",
"category_id", "score", "segmentations"}``, one per-frame RLE or None per frame), so a tracked
``predict`` run can be scored as a video instance segmentation result, by them or by
:func:`yolactedge.eval.ytvis_eval.evaluate_ytvis_results`. Grouping frames into tracks is
``to_ytvis_results``'s job; this module feeds it from ``Results`` and decides which video id and
which frame list each video gets.
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yolactedge.api.results import Results
from yolactedge.eval.ytvis_eval import to_ytvis_results

_FRAME_SUFFIX = re.compile(r"_(\d+)$")


@dataclass(frozen=True)
class YTVISVideo:
    """Where one video's entries go: its ``video_id`` and, when following an annotation file, the
    raw frame numbers (from its ``file_names``) that the per-frame lists cover, in order.
    ``frames=None``: every processed frame, in the order processed."""

    video_id: int
    frames: tuple[int, ...] | None = None


@dataclass
class _Collected:
    spec: YTVISVideo
    records: list[dict | None] = field(default_factory=list)
    position: dict[int, int] = field(default_factory=dict)  # frame number -> index in records

    def __post_init__(self) -> None:
        if self.spec.frames is not None:
            self.records = [None] * len(self.spec.frames)
            self.position = {number: i for i, number in enumerate(self.spec.frames)}


def video_name(source: str) -> str:
    """A video's name as YouTube-VIS spells it: the file stem (``.../video_0001.avi`` -> ``video_0001``)."""
    return Path(str(source)).stem or str(source)


def frame_number(result: Results, fallback: int) -> int:
    """The frame's number in its video's timeline (``Frame.name`` is ``<stem>_<index:06d>`` for
    video frames, with ``vid_stride`` gaps kept); ``fallback`` when the name does not say."""
    match = _FRAME_SUFFIX.search(Path(str(result.path)).name)
    return int(match.group(1)) if match else fallback


def annotation_targets(ann: str | os.PathLike | Mapping[str, Any], class_names: Sequence[str]
                       ) -> tuple[list[int], dict[str, YTVISVideo]]:
    """Category ids (the model's classes matched by name) and videos (name -> id and annotated
    frame numbers) of a YouTube-VIS annotation file, so an export can be scored against it."""
    from yolactedge.data.ytvis import parse_frame_name

    if isinstance(ann, Mapping):
        data, where = ann, "annotations"
    else:
        with open(ann) as handle:
            data = json.load(handle)
        where = str(ann)
    if "videos" not in data or "categories" not in data:
        raise ValueError(f"{where}: not a YouTube-VIS annotation file (needs 'videos' and 'categories')")
    by_name = {str(c["name"]): int(c["id"]) for c in data["categories"]}
    missing = [n for n in class_names if n not in by_name]
    if missing:
        raise ValueError(f"{where}: the model's classes {missing[:5]} are not among its categories "
                         f"{sorted(by_name)[:10]}")
    videos: dict[str, YTVISVideo] = {}
    for v in data["videos"]:
        names = list(v.get("file_names") or [])
        if not names:
            continue
        parsed = [parse_frame_name(n, f"{where}: video id {v['id']}") for n in names]
        folder = parsed[0][0]
        videos[video_name(folder)] = YTVISVideo(int(v["id"]), tuple(p[2] for p in parsed))
    return [by_name[n] for n in class_names], videos


class YTVISExporter:
    """Collects tracked video frame results (``predict(..., track=True)``), one or more videos,
    frame by frame, and turns them into YouTube-VIS result entries.

    Masks are RLE-encoded as frames arrive, so a long video never holds its full-resolution masks.
    ``category_ids[c]``: the dataset category id of class index ``c`` (default ``c + 1``, the
    YouTube-VIS numbering of a model whose classes are the dataset's in id order). ``videos``:
    video name (source file stem) -> :class:`YTVISVideo`; a video not listed gets the next free
    id (1, 2, ... in order of appearance) and every processed frame. With ``strict``, a video not
    listed is an error (an export meant to be scored against an annotation file).
    """

    def __init__(self, category_ids: Sequence[int] | None = None, videos: Mapping[str, YTVISVideo] | None = None,
                 *, strict: bool = False) -> None:
        self.category_ids = None if category_ids is None else [int(c) for c in category_ids]
        self.videos = dict(videos or {})
        self.strict = strict
        self._collected: dict[str, _Collected] = {}
        self._num_classes: int | None = None

    @classmethod
    def for_annotations(cls, ann: str | os.PathLike | Mapping[str, Any], class_names: Sequence[str]
                        ) -> "YTVISExporter":
        """Ids and frame lists of an annotation file (:func:`annotation_targets`), strict."""
        category_ids, videos = annotation_targets(ann, class_names)
        return cls(category_ids, videos, strict=True)

    def _video(self, source: str) -> _Collected:
        collected = self._collected.get(source)
        if collected is not None:
            return collected
        name = video_name(source)
        spec = self.videos.get(name)
        if spec is None:
            if self.strict:
                known = ", ".join(sorted(self.videos)[:5])
                raise ValueError(f"video {name!r} ({source}) is not in the annotation file (its videos: {known}"
                                 f"{' ...' if len(self.videos) > 5 else ''}); name the video file after its folder")
            used = {v.video_id for v in self.videos.values()} | {c.spec.video_id for c in self._collected.values()}
            spec = YTVISVideo(max(used, default=0) + 1)
        collected = self._collected[source] = _Collected(spec)
        return collected

    def add(self, result: Results) -> None:
        """One frame, in order. Frames an annotation file does not list are passed over."""
        if not result.is_video:
            raise ValueError(f"{result.path}: a still image; YouTube-VIS results describe videos (predict a video "
                             "file, webcam or stream)")
        if result.ids is None:
            raise ValueError(f"{result.path}: no track ids; predict with track=True")
        if result.masks is None:
            raise ValueError(f"{result.path}: no masks; YouTube-VIS results are masks (predict with masks=True)")
        self._num_classes = len(result.names)
        video = self._video(str(result.source))
        record = {"track_ids": result.ids, "scores": result.scores, "classes": result.class_ids,
                  "rles": result.rle()}
        if video.spec.frames is None:
            video.records.append(record)
            return
        index = video.position.get(frame_number(result, fallback=-1))
        if index is not None:
            video.records[index] = record

    def update(self, results: Iterable[Results]) -> "YTVISExporter":
        for result in results:
            self.add(result)
        return self

    @property
    def num_videos(self) -> int:
        return len(self._collected)

    def entries(self) -> list[dict]:
        """YouTube-VIS result entries, videos in order of appearance, tracks by id within a video."""
        category_ids = self.category_ids
        if category_ids is None:
            category_ids = list(range(1, (self._num_classes or 0) + 1))
        out: list[dict] = []
        for video in self._collected.values():
            out.extend(to_ytvis_results(video.spec.video_id, video.records, category_ids))
        return out

    def write(self, path: str | os.PathLike) -> Path:
        """Write :meth:`entries` as the results JSON; parent folders are created."""
        return dump_ytvis_json(self.entries(), path)


def dump_ytvis_json(entries: Sequence[Mapping[str, Any]], path: str | os.PathLike) -> Path:
    """Write result entries as the YouTube-VIS results JSON (a list), atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as handle:
        json.dump(list(entries), handle)
    os.replace(tmp, path)
    return path


def ytvis_results(results: Iterable[Results], category_ids: Sequence[int] | None = None,
                  videos: Mapping[str, YTVISVideo] | None = None) -> list[dict]:
    """YouTube-VIS entries of tracked frame results of one or more videos (see :class:`YTVISExporter`)."""
    return YTVISExporter(category_ids, videos).update(results).entries()


def write_ytvis_json(results: Iterable[Results], path: str | os.PathLike, *,
                     ann: str | os.PathLike | Mapping[str, Any] | None = None,
                     category_ids: Sequence[int] | None = None) -> Path:
    """Write the YouTube-VIS results JSON of tracked frame results (a list or a ``stream=True``
    generator). With ``ann`` (a YouTube-VIS annotation file), video ids, category ids and the
    per-frame lists follow it, so the file can be scored against it."""
    if ann is not None:
        if category_ids is not None:
            raise ValueError("pass either ann (ids taken from it) or category_ids, not both")
        exporter: YTVISExporter | None = None
        for result in results:
            if exporter is None:
                exporter = YTVISExporter.for_annotations(ann, [result.names[i] for i in sorted(result.names)])
            exporter.add(result)
        exporter = exporter or YTVISExporter()
    else:
        exporter = YTVISExporter(category_ids).update(results)
    return exporter.write(path)
