"""Calibration sources: clear errors up front, fingerprints, COCO json, video order."""
import json

import cv2
import numpy as np
import pytest

from yolactedge.deploy.calibration import CalibrationError, SampleSpool, load_calibration_set

from deploy_helpers import small_config, write_images


def test_empty_folder_is_a_clear_error(tmp_path):
    (tmp_path / "notes.txt").write_text("no images here")
    with pytest.raises(CalibrationError) as err:
        load_calibration_set(tmp_path)
    text = str(err.value)
    assert "INT8 needs calibration images" in text and str(tmp_path) in text
    assert "contains 0 readable images" in text and "--calib" in text and "fp32/fp16" in text


def test_unreadable_images_only(tmp_path):
    for i in range(3):
        (tmp_path / f"broken{i}.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(CalibrationError, match=r"contains 0 readable images \(3 unreadable skipped\)"):
        load_calibration_set(tmp_path)


@pytest.mark.parametrize("source, message", [(None, "no calibration source given"), ("/no/such/dir", "does not exist")])
def test_missing_sources(source, message):
    with pytest.raises(CalibrationError, match=message):
        load_calibration_set(source)


def test_count_digest_and_reiteration(tmp_path):
    write_images(tmp_path, 5)
    config = small_config("yolact_edge_resnet50_config", (96, 96))
    three = load_calibration_set(tmp_path, 3, config)
    assert three.count == 3 and len(list(three)) == 3 and len(list(three)) == 3  # re-iterable
    assert load_calibration_set(tmp_path, 3, config).digest == three.digest
    assert load_calibration_set(tmp_path, 4, config).digest != three.digest
    other = small_config("yolact_edge_resnet50_config", (128, 96))
    assert load_calibration_set(tmp_path, 3, other).digest != three.digest  # preprocessing is part of it
    assert load_calibration_set(tmp_path, 100, config).count == 5  # fewer images than asked: use them all


def test_coco_json_source(tmp_path):
    images = tmp_path / "images"
    write_images(images, 3)
    ann = tmp_path / "annotations.json"
    ann.write_text(json.dumps({"images": [{"id": i, "file_name": f"{i:03d}.jpg"} for i in range(3)]}))
    data = load_calibration_set(ann, 10)
    assert data.count == 3 and all(im.ndim == 3 for im in data)


def test_video_source_keeps_frame_order(tmp_path):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    if not writer.isOpened():
        pytest.skip("OpenCV cannot write MJPG video here")
    for i in range(6):
        writer.write(np.full((48, 64, 3), i * 40, np.uint8))
    writer.release()
    data = load_calibration_set(path, 4)
    assert data.count == 4 and data.is_sequence
    means = [float(im.mean()) for im in data]
    assert means == sorted(means)


def test_spool_round_trip(tmp_path):
    spool = SampleSpool(tmp_path)
    for i in range(5):
        spool.add("proto", {"p3": np.full((1, 2, 3, 3), i, np.float32)})
    view = spool.samples("proto")
    assert len(view) == 5 and [int(s["p3"][0, 0, 0, 0]) for s in view] == [0, 1, 2, 3, 4]
    assert [len(c) for c in view.chunks(2)] == [2, 2, 1]
