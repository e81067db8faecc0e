"""Keyframe scheduling and tracking ids."""
import numpy as np

from yolactedge.api.keyframes import KeyframePolicy, KeyframeScheduler
from yolactedge.api.tracking import MaskIoUTracker


def test_fixed_interval_schedule():
    s = KeyframeScheduler(5)
    assert [s.decide() for _ in range(12)] == [True, False, False, False, False] * 2 + [True, False]
    s = KeyframeScheduler(1)
    assert all(s.decide() for _ in range(4))


def test_adaptive_schedule_starts_keyframe_on_scene_change():
    s = KeyframeScheduler(KeyframePolicy(interval=10, adaptive=True, change_thresh=10))
    dark = np.zeros((60, 80, 3), np.uint8)
    bright = np.full((60, 80, 3), 200, np.uint8)
    decisions = [s.decide(f) for f in [dark, dark, dark, bright, bright, bright]]
    assert decisions == [True, False, False, True, False, False]
    assert s.num_keyframes == 2


def test_invalid_interval():
    try:
        KeyframePolicy(interval=0)
    except ValueError as err:
        assert "interval" in str(err)
    else:
        raise AssertionError


def _mask(h, w, x0, y0, size):
    m = np.zeros((h, w), bool)
    m[y0:y0 + size, x0:x0 + size] = True
    return m


def test_tracker_keeps_ids_for_moving_objects_and_expires_tracks():
    t = MaskIoUTracker(iou_thresh=0.3, max_age=1)
    boxes = np.zeros((2, 4), np.float32)
    cls = np.array([0, 1])
    ids0 = t.update(boxes, cls, np.stack([_mask(50, 50, 5, 5, 10), _mask(50, 50, 30, 30, 10)]))
    # both move by 2 px; listed in the other order
    ids1 = t.update(boxes, cls[::-1], np.stack([_mask(50, 50, 32, 30, 10), _mask(50, 50, 7, 5, 10)]))
    assert ids1.tolist() == ids0[::-1].tolist()
    # a detection of another class at the same place gets a new id
    ids2 = t.update(boxes[:1], np.array([2]), _mask(50, 50, 7, 5, 10)[None])
    assert ids2[0] not in ids0
    t.update(boxes[:0], np.zeros(0, np.int64), np.zeros((0, 50, 50), bool))
    t.update(boxes[:0], np.zeros(0, np.int64), np.zeros((0, 50, 50), bool))
    ids3 = t.update(boxes[:1], np.array([0]), _mask(50, 50, 7, 5, 10)[None])
    assert ids3[0] not in set(ids0) | set(ids2)  # expired after max_age frames unseen


def test_tracker_box_fallback():
    t = MaskIoUTracker()
    a = t.update(np.array([[0, 0, 10, 10]], np.float32), np.array([0]), None)
    b = t.update(np.array([[1, 0, 11, 10]], np.float32), np.array([0]), None)
    assert a.tolist() == b.tolist()
