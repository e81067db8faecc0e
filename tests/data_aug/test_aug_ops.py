"""Each geometric step on hand-built cases, through fixed AugmentParams (no randomness)."""
from __future__ import annotations

import numpy as np
import pytest
from aug_helpers import make_sample, mask_box, raw_preprocess

from yolactedge.data.augment import (
    AugmentConfig,
    AugmentParams,
    Augmenter,
    box_iou,
    centres_inside,
    draw_crop,
    draw_expand,
    resize_masks,
)

MEAN = np.array([10.0, 20.0, 30.0], np.float32)


def _params(shape, canvas=None, offset=(0, 0), crop=None, mirror=False) -> AugmentParams:
    return AugmentParams(shape, None, canvas or shape, offset, crop, mirror)


def _pixel_boxes(out, height: int, width: int) -> np.ndarray:
    return out.boxes * np.array([width, height, width, height], np.float32)


def test_mirror_flips_boxes_and_masks_consistently() -> None:
    sample = make_sample(30, 40, [[2, 3, 12, 20], [25, 5, 40, 30]])
    aug = Augmenter(AugmentConfig(min_box_size=0), raw_preprocess(30, 40))
    out = aug.apply(sample, _params((30, 40), mirror=True))
    boxes = _pixel_boxes(out, 30, 40)
    np.testing.assert_allclose(boxes, [[28, 3, 38, 20], [0, 5, 15, 30]], atol=1e-4)
    for mask, box in zip(out.masks, boxes):
        assert mask_box(mask) == np.round(box).astype(int).tolist()
    bgr = out.image.transpose(1, 2, 0) + MEAN
    np.testing.assert_allclose(bgr, sample.image[:, ::-1].astype(np.float32), atol=1e-3)


def test_expand_keeps_masks_aligned_and_fills_with_mean() -> None:
    sample = make_sample(20, 30, [[5, 4, 15, 12]])
    canvas, offset = (50, 70), (17, 9)  # (top, left)
    aug = Augmenter(AugmentConfig(min_box_size=0), raw_preprocess(*canvas))
    out = aug.apply(sample, _params((20, 30), canvas=canvas, offset=offset))
    box = _pixel_boxes(out, *canvas)[0]
    np.testing.assert_allclose(box, [14, 21, 24, 29], atol=1e-4)
    assert mask_box(out.masks[0]) == [14, 21, 24, 29]
    pixels = out.image.transpose(1, 2, 0)  # pixel - mean
    np.testing.assert_allclose(pixels[17:37, 9:39] + MEAN, sample.image, atol=1e-3)
    outside = np.ones(canvas, bool)
    outside[17:37, 9:39] = False
    assert np.abs(pixels[outside]).max() < 1e-4  # canvas = mean -> 0 after normalisation
    assert out.masks[0][outside].sum() == 0


def test_draw_expand_fits_the_canvas() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        (ch, cw), (top, left) = draw_expand((37, 53), 4.0, rng)
        assert 37 <= ch <= 4 * 37 and 53 <= cw <= 4 * 53
        assert 0 <= top and top + 37 <= ch and 0 <= left and left + 53 <= cw
    assert draw_expand((37, 53), 1.0, rng) == ((37, 53), (0, 0))


def test_crop_keeps_centre_inside_gt_and_clips() -> None:
    # 0: inside; 1: centre outside (dropped); 2: overhangs the crop but centre inside (clipped).
    sample = make_sample(60, 80, [[20, 20, 30, 30], [0, 0, 10, 10], [35, 30, 70, 50]])
    rect = (15, 10, 55, 45)  # x1, y1, x2, y2 -> 40 x 35 window
    aug = Augmenter(AugmentConfig(min_box_size=0), raw_preprocess(35, 40))
    out = aug.apply(sample, _params((60, 80), crop=rect))
    assert out.labels.tolist() == [0, 2]
    boxes = _pixel_boxes(out, 35, 40)
    np.testing.assert_allclose(boxes, [[5, 10, 15, 20], [20, 20, 40, 35]], atol=1e-4)
    for mask, box in zip(out.masks, boxes):
        assert mask_box(mask) == np.round(box).astype(int).tolist()
    np.testing.assert_allclose(out.image.transpose(1, 2, 0) + MEAN, sample.image[10:45, 15:55], atol=1e-3)


def test_expand_then_crop_window_reaching_outside_the_image() -> None:
    sample = make_sample(20, 20, [[4, 4, 16, 16]])
    canvas, offset = (60, 60), (30, 30)
    rect = (20, 25, 45, 50)  # covers canvas fill and the image's top-left part
    aug = Augmenter(AugmentConfig(min_box_size=0), raw_preprocess(25, 25))
    out = aug.apply(sample, _params((20, 20), canvas=canvas, offset=offset, crop=rect))
    np.testing.assert_allclose(_pixel_boxes(out, 25, 25), [[14, 9, 25, 21]], atol=1e-4)
    assert mask_box(out.masks[0]) == [14, 9, 25, 21]
    pixels = out.image.transpose(1, 2, 0)
    np.testing.assert_allclose(pixels[5:, 10:] + MEAN, sample.image[:20, :15], atol=1e-3)
    assert np.abs(pixels[:5]).max() < 1e-4 and np.abs(pixels[:, :10]).max() < 1e-4


def test_draw_crop_enforces_min_iou() -> None:
    boxes = np.array([[10, 10, 90, 70], [60, 5, 70, 15]], np.float32)
    crowd = np.array([False, False])
    rng = np.random.default_rng(0)
    for min_iou in (0.3, 0.7):
        for _ in range(30):
            rect = draw_crop((80, 100), boxes, crowd, rng, modes=(min_iou,))
            assert rect is not None
            assert box_iou(boxes, rect).max() >= min_iou
            assert centres_inside(boxes, rect).any()
            assert 0 <= rect[0] < rect[2] <= 100 and 0 <= rect[1] < rect[3] <= 80


def test_draw_crop_ignores_crowd_for_the_constraints() -> None:
    # Only the crowd region could reach IoU 0.9; the small object never can.
    boxes = np.array([[0, 0, 100, 80], [45, 35, 55, 45]], np.float32)
    rng = np.random.default_rng(0)
    assert draw_crop((80, 100), boxes, np.array([True, False]), rng, modes=(0.9,)) is None
    assert draw_crop((80, 100), boxes, np.array([True, True]), rng) is None
    assert draw_crop((80, 100), boxes, np.array([False, True]), rng, modes=(0.9,)) is not None


def test_tiny_boxes_dropped_in_network_input_pixels() -> None:
    # 400 -> 40: x0.1. Box 0 becomes 3 px wide (dropped), box 1 5 px (kept), crowd box 2 px (dropped).
    boxes = [[10, 10, 40, 100], [100, 100, 150, 150], [200, 200, 220, 300]]
    sample = make_sample(400, 400, boxes, [False, False, True])
    aug = Augmenter(AugmentConfig(min_box_size=4.0), raw_preprocess(40, 40))
    out = aug.apply(sample, _params((400, 400)))
    assert out.labels.tolist() == [1]
    assert out.masks.shape == (1, 40, 40) and out.crowd.tolist() == [False]
    np.testing.assert_allclose(_pixel_boxes(out, 40, 40), [[10, 10, 15, 15]], atol=1e-4)
    keep_all = Augmenter(AugmentConfig(min_box_size=0.0), raw_preprocess(40, 40))
    assert len(keep_all.apply(sample, _params((400, 400)))) == 3


def test_only_tiny_or_crowd_gt_returns_none() -> None:
    aug = Augmenter(AugmentConfig(min_box_size=4.0), raw_preprocess(40, 40))
    tiny = make_sample(400, 400, [[10, 10, 40, 40], [100, 100, 300, 300]], [False, True])
    assert aug.apply(tiny, _params((400, 400))) is None
    crowd_only = make_sample(400, 400, [[100, 100, 300, 300]], [True])
    assert aug.apply(crowd_only, _params((400, 400))) is None
    out = aug.apply(crowd_only, _params((400, 400)), require_gt=False)
    assert out is not None and out.crowd.tolist() == [True]


def test_resize_masks_binary_and_many_channels() -> None:
    masks = np.zeros((9, 11, 600), np.uint8)
    masks[2:7, 3:9, ::2] = 1
    out = resize_masks(masks, (18, 22))
    assert out.shape == (600, 18, 22) and out.dtype == np.uint8
    assert set(np.unique(out)) <= {0, 1}
    assert out[1].sum() == 0 and out[0].sum() > 0
    np.testing.assert_array_equal(out[0], out[598])
    assert resize_masks(masks[:, :, :1], (5, 6)).shape == (1, 5, 6)
    assert resize_masks(masks[:, :, :0], (5, 6)).shape == (0, 5, 6)


def test_params_must_match_the_image() -> None:
    aug = Augmenter(AugmentConfig(), raw_preprocess(10, 10))
    with pytest.raises(ValueError):
        aug.apply(make_sample(20, 30, [[1, 1, 9, 9]]), _params((30, 20)))
