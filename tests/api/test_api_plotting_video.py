"""Mask blending, video writing, headless display handling and progress bars."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from yolactedge.api import video_io
from yolactedge.api.plotting import PALETTE, color_for, draw_boxes_labels, draw_masks
from yolactedge.runtime.progress import progress
from yolactedge.api.video_io import VideoSink, VideoWriteError, has_display, resolve_show


def test_draw_masks_blends_and_top_instance_wins() -> None:
    image = np.zeros((10, 10, 3), dtype=np.uint8)
    masks = np.zeros((2, 10, 10), dtype=bool)
    masks[0, :5] = True
    masks[1, 3:] = True  # overlaps rows 3-4 with mask 0
    out = draw_masks(image, masks, [(200, 0, 0), (0, 0, 200)], alpha=0.5)
    assert out[0, 0].tolist() == [100, 0, 0]
    assert out[4, 0].tolist() == [100, 0, 0]  # overlap: first (highest score) mask is shown
    assert out[9, 0].tolist() == [0, 0, 100]
    assert image.max() == 0  # input untouched
    assert np.array_equal(draw_masks(image, np.zeros((0, 10, 10), bool), [], 0.5), image)
    with pytest.raises(ValueError, match="image resolution"):
        draw_masks(image, np.zeros((1, 5, 5), bool), [(1, 2, 3)])


def test_draw_boxes_labels_and_palette() -> None:
    image = np.zeros((40, 60, 3), dtype=np.uint8)
    boxes = np.array([[5, 5, 50, 35], [-10, -10, 100, 100]])  # the second one runs off the image
    draw_boxes_labels(image, boxes, [color_for(0), color_for(1)], ["person 0.90", "car"])
    assert image.any()
    assert len(set(PALETTE)) == len(PALETTE)
    assert color_for(3) == color_for(3 + len(PALETTE))


def test_video_sink_writes_readable_file(tmp_path: Path) -> None:
    path = tmp_path / "out" / "video.avi"
    with VideoSink(path, fps=12, size=(32, 24)) as sink:
        for k in range(4):
            sink.write(np.full((24, 32, 3), 40 * k, dtype=np.uint8))
        with pytest.raises(VideoWriteError, match="32x24"):
            sink.write(np.zeros((10, 10, 3), dtype=np.uint8))
    assert sink.closed and sink.frames_written == 4
    cap = cv2.VideoCapture(str(path))
    count = 0
    while cap.read()[0]:
        count += 1
    cap.release()
    assert count == 4


def test_video_sink_errors(tmp_path: Path) -> None:
    with pytest.raises(VideoWriteError, match="unsupported extension"):
        VideoSink(tmp_path / "v.xyz", 10, (8, 8))
    with pytest.warns(UserWarning, match="fps"):
        VideoSink(tmp_path / "v.avi", None, (8, 8)).close()


def test_headless_display_detection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(video_io.sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert has_display() is False
    with pytest.warns(UserWarning, match="no display"):
        assert resolve_show(True) is False
    assert resolve_show(False) is False
    monkeypatch.setenv("DISPLAY", ":0")
    assert has_display() is True


def test_progress_passes_items_through() -> None:
    class Sized:
        expected_length = 3

        def __iter__(self):
            return iter([1, 2, 3])

    bar = progress(Sized(), desc="x")
    assert list(bar) == [1, 2, 3] and bar.total == 3
    assert list(progress([4, 5], enabled=False)) == [4, 5]
