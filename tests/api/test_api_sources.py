"""Every input kind load_source() accepts, and the failures users hit upstream (YE#22, YE#191)."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from yolactedge.data.sources import (
    ArraySource,
    ChainSource,
    Frame,
    ImageFilesSource,
    IterableArraySource,
    SourceError,
    SourceWarning,
    VideoSource,
    load_source,
)


def _write_png(path: Path, value: int, shape: tuple[int, int] = (12, 16)) -> Path:
    image = np.full((*shape, 3), value, dtype=np.uint8)
    assert cv2.imwrite(str(path), image)
    return path


def _write_avi(path: Path, frames: int, size: tuple[int, int] = (32, 24), fps: float = 10.0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    assert writer.isOpened()
    for k in range(frames):
        writer.write(np.full((size[1], size[0], 3), 20 * k, dtype=np.uint8))
    writer.release()
    return path


@pytest.fixture()
def image_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in (10, 2, 1):  # natural order must give 1, 2, 10
        _write_png(folder / f"img{i}.png", i)
    (folder / "notes.txt").write_text("not an image")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 this is not really a jpeg")
    (folder / "sub").mkdir()
    return folder


def test_single_image_path(tmp_path: Path) -> None:
    path = _write_png(tmp_path / "a.png", 7)
    src = load_source(path)
    frames = list(src)
    assert len(src) == 1 and len(frames) == 1
    frame = frames[0]
    assert isinstance(frame, Frame)
    assert frame.name == "a.png" and frame.index == 0 and not frame.is_video and frame.fps is None
    assert frame.image.shape == (12, 16, 3) and frame.image.dtype == np.uint8
    assert src.stats.processed == 1 and src.stats.skipped == 0


def test_folder_skips_non_images_silently_and_corrupt_images_with_warning(image_folder: Path) -> None:
    src = load_source(str(image_folder))
    assert isinstance(src, ImageFilesSource)
    assert len(src) == 4  # three pngs + broken.jpg; notes.txt and sub/ are ignored by extension
    with pytest.warns(SourceWarning, match=r"Skipping .*broken\.jpg: not a readable image"):
        names = [f.name for f in src]
    assert names == ["img1.png", "img2.png", "img10.png"]
    assert src.stats.processed == 3 and src.stats.skipped == 1
    assert src.stats.skipped_files[0].endswith("broken.jpg")
    assert src.stats.summary() == "3 processed, 1 skipped"


def test_glob_list_and_txt(image_folder: Path, tmp_path: Path) -> None:
    globbed = load_source(str(image_folder / "img*.png"))
    assert [f.name for f in globbed] == ["img1.png", "img2.png", "img10.png"]

    paths = [image_folder / "img2.png", str(image_folder / "img1.png")]
    listed = load_source(paths)
    assert [f.name for f in listed] == ["img2.png", "img1.png"]

    list_file = tmp_path / "list.txt"
    absolute = str(image_folder / "img1.png")
    list_file.write_text(f"# comment\nimgs/img10.png\n\n{absolute}\nimgs/missing.png\n")
    with pytest.warns(SourceWarning, match="missing.png: does not exist"):
        from_txt = load_source(list_file)
    assert [f.name for f in from_txt] == ["img10.png", "img1.png"]
    assert from_txt.stats.processed == 2 and from_txt.stats.skipped == 1


def test_mixed_list_of_images_and_video(image_folder: Path, tmp_path: Path) -> None:
    video = _write_avi(tmp_path / "clip.avi", 3)
    src = load_source([image_folder / "img1.png", video])
    assert isinstance(src, ChainSource) and src.is_video
    frames = list(src)
    assert [f.is_video for f in frames] == [False, True, True, True]
    assert src.stats.processed == 4


def test_numpy_arrays_are_converted() -> None:
    gray = np.full((5, 6), 9, dtype=np.uint8)
    rgba = np.zeros((5, 6, 4), dtype=np.uint8)
    deep = np.full((5, 6, 3), 65535, dtype=np.uint16)
    src = load_source([gray, rgba, deep])
    assert isinstance(src, ArraySource) and len(src) == 3
    frames = list(src)
    assert all(f.image.shape == (5, 6, 3) and f.image.dtype == np.uint8 for f in frames)
    assert frames[0].image[0, 0].tolist() == [9, 9, 9]
    assert frames[2].image.max() == 255
    assert [f.name for f in frames] == ["array_000000", "array_000001", "array_000002"]
    single = load_source(np.zeros((4, 4, 3), np.uint8))
    assert len(list(single)) == 1


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((4, 4, 3), dtype=np.complex64),
        np.zeros((4, 4, 2), dtype=np.uint8),
        np.zeros(7, dtype=np.uint8),
    ],
)
def test_bad_arrays_are_rejected_up_front(bad: np.ndarray) -> None:
    with pytest.raises(SourceError, match="array 0"):
        load_source(bad)


def test_generator_of_arrays() -> None:
    src = load_source(np.zeros((3, 3, 3), np.uint8) for _ in range(2))
    assert isinstance(src, IterableArraySource)
    assert len(list(src)) == 2
    with pytest.raises(TypeError, match="expected_length"):
        len(src)
    assert bool(src)


def test_video_reads_to_end_and_stops_cleanly(tmp_path: Path) -> None:
    video = _write_avi(tmp_path / "clip.avi", 5)
    src = load_source(str(video))
    assert isinstance(src, VideoSource) and src.is_video
    assert src.expected_length == 5
    frames = list(src)
    assert len(frames) == 5 and src.stats.processed == 5
    assert frames[0].name == "clip_000000" and frames[-1].name == "clip_000004"
    assert frames[0].fps == pytest.approx(10.0) and frames[0].is_video
    assert [f.index for f in list(src)] == [0, 1, 2, 3, 4]  # a second pass reopens the file


def test_video_stride(tmp_path: Path) -> None:
    video = _write_avi(tmp_path / "clip.avi", 5)
    src = load_source(video, vid_stride=2)
    assert src.expected_length == 3
    frames = list(src)
    assert [f.index for f in frames] == [0, 2, 4]
    assert frames[0].fps == pytest.approx(5.0)
    with pytest.raises(SourceError, match="vid_stride"):
        load_source(video, vid_stride=0)


def test_nonexistent_path(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        load_source(tmp_path / "nope.jpg")


def test_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="contains no images"):
        load_source(tmp_path / "empty")


@pytest.mark.parametrize("index", [99, "99"])
def test_unopenable_webcam(index: int | str) -> None:
    with pytest.raises(SourceError, match=r"Cannot open source 'webcam:99'.*webcam index"):
        load_source(index)


def test_unopenable_video_file_and_bad_types(tmp_path: Path) -> None:
    fake = tmp_path / "fake.mp4"
    fake.write_bytes(b"not a video at all")
    with pytest.raises(SourceError, match="Cannot open source .*codec"):
        load_source(fake)
    with pytest.raises(SourceError, match="bool"):
        load_source(True)
    with pytest.raises(SourceError, match="Unsupported source type"):
        load_source(3.5)
    with pytest.raises(SourceError, match="matched no image files"):
        load_source(str(tmp_path / "*.png"))
