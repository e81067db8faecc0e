"""benchmarks/video_errors.py: the error categories on a hand-built case."""
from collections import Counter

import numpy as np
import pytest
from benchmark_scripts import load_benchmark


def load_script():
    return load_benchmark("video_errors")


def test_each_detection_gets_one_category():
    classify = load_script().classify
    gt_cats = [1, 2, 3]
    iou = np.array([
        [0.9, 0.0, 0.0],   # right (object 0, class 1)
        [0.8, 0.0, 0.0],   # same object again, same class: duplicate
        [0.0, 0.7, 0.0],   # object 1 overlapped with class 3: wrong class
        [0.0, 0.0, 0.3],   # poor localisation
        [0.0, 0.05, 0.0],  # background
    ])
    counts = classify(iou, [1, 1, 3, 3, 2], gt_cats)
    assert counts == {"right": 1, "duplicate": 1, "wrong_class": 1, "poor_loc": 1, "background": 1, "missed": 2}
    assert classify(np.zeros((0, 3)), [], gt_cats) == Counter(missed=3)
    assert classify(np.zeros((1, 0)), [1], []) == Counter(background=1)


def test_missing_annotations_is_a_clear_error(tmp_path):
    with pytest.raises(SystemExit, match="not found"):
        load_script().main(["--model", "x.pt", "--data", str(tmp_path), "breakdown"])


def test_keyframe_rescoring_on_a_hand_built_case():
    import torch

    from yolactedge.ops.detect import Detections

    def dets(boxes, scores, classes):
        n = len(scores)
        return Detections(torch.tensor(boxes, dtype=torch.float32), torch.zeros(n, 2),
                          torch.tensor(classes), torch.tensor(scores))

    rescored = load_script().rescored
    key = dets([[0.1, 0.1, 0.3, 0.3]] * 2, [0.81, 0.09], [2, 5])  # one object, two class hypotheses
    moved = dets([[0.12, 0.1, 0.32, 0.3], [0.12, 0.1, 0.32, 0.3], [0.1, 0.1, 0.3, 0.3], [0.6, 0.6, 0.9, 0.9]],
                 [0.36, 0.49, 0.64, 0.7], [2, 5, 7, 2])
    out = rescored(moved, key, 0.5).scores.tolist()
    assert out[0] == pytest.approx((0.36 * 0.81) ** 0.5)  # the keyframe's class gains
    assert out[1] == pytest.approx((0.49 * 0.09) ** 0.5)  # the drifted class loses: the ranking flips back
    assert out[2] == pytest.approx((0.64 * 0.05) ** 0.5)  # a class the keyframe did not see: the floor
    assert out[3] == pytest.approx(0.7)  # no overlapping keyframe detection: a new object, unchanged
    assert rescored(moved, key, 0.0).scores.tolist() == pytest.approx([0.36, 0.49, 0.64, 0.7])
