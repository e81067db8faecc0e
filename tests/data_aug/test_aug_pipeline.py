"""The whole random pipeline: shapes, ranges, determinism, video consistency, resampling."""
from __future__ import annotations

import numpy as np
import pytest
from aug_helpers import make_sample, mask_box, raw_preprocess

from yolactedge.data.augment import AugmentConfig, Augmenter, AugmentedSample, eval_transform
from yolactedge.data.preprocess import PreprocessConfig, preprocess_image

INPUT = (48, 64)  # non-square on purpose: catches height/width mix-ups
BOXES = [[5, 6, 40, 50], [45, 10, 78, 30], [20, 40, 70, 58], [0, 0, 80, 60]]
CROWD = [False, False, False, True]


def _sample(seed: int = 0):
    return make_sample(60, 80, BOXES, CROWD, seed=seed)


def _augmenter(**overrides) -> Augmenter:
    return Augmenter(AugmentConfig(**overrides), PreprocessConfig(input_size=INPUT))


def _assert_equal(a: AugmentedSample, b: AugmentedSample) -> None:
    for field in ("image", "boxes", "labels", "masks", "crowd"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)


def test_output_shapes_dtypes_and_ranges() -> None:
    aug = _augmenter()
    sample = _sample()
    lo = (0.0 - np.array(PreprocessConfig().mean)) / np.array(PreprocessConfig().std)
    hi = (255.0 - np.array(PreprocessConfig().mean)) / np.array(PreprocessConfig().std)
    produced = 0
    for seed in range(40):
        out = aug(sample, np.random.default_rng(seed))
        if out is None:
            continue
        produced += 1
        k = len(out)
        assert out.image.shape == (3, *INPUT) and out.image.dtype == np.float32
        assert out.image.flags.c_contiguous
        assert out.image.min() >= lo.min() - 1e-4 and out.image.max() <= hi.max() + 1e-4
        assert out.boxes.shape == (k, 4) and out.boxes.dtype == np.float32
        assert out.boxes.min() >= 0.0 and out.boxes.max() <= 1.0
        assert (out.boxes[:, 2:] > out.boxes[:, :2]).all()
        assert out.labels.shape == (k,) and out.labels.dtype == np.int64
        assert out.masks.shape == (k, *INPUT) and out.masks.dtype == np.uint8
        assert set(np.unique(out.masks)) <= {0, 1}
        assert out.crowd.shape == (k,) and out.crowd.dtype == bool
        assert (~out.crowd).any()
        assert set(out.labels[out.crowd].tolist()) <= {3}
    assert produced >= 30


def test_masks_stay_aligned_with_boxes_through_the_pipeline() -> None:
    aug = Augmenter(AugmentConfig(min_box_size=6.0), raw_preprocess(*INPUT))
    sample = make_sample(60, 80, BOXES[:3])
    scale = np.array([INPUT[1], INPUT[0], INPUT[1], INPUT[0]], np.float32)
    for seed in range(40):
        out = aug(sample, np.random.default_rng(seed))
        if out is None:
            continue
        for mask, box in zip(out.masks, out.boxes * scale):
            # Bilinear re-binarisation can move an edge by less than one output pixel.
            assert np.abs(np.array(mask_box(mask)) - box).max() <= 1.0, (seed, mask_box(mask), box)


def test_same_seed_same_output() -> None:
    aug = _augmenter()
    sample = _sample()
    for seed in range(5):
        a = aug(sample, np.random.default_rng(seed))
        b = aug(sample, np.random.default_rng(seed))
        assert (a is None) == (b is None)
        if a is not None:
            _assert_equal(a, b)
    outputs = [aug(sample, np.random.default_rng(s)) for s in range(5)]
    images = [o.image for o in outputs if o is not None]
    assert any(not np.array_equal(images[0], im) for im in images[1:])


def test_identical_frames_get_identical_outputs() -> None:
    aug = _augmenter()
    sample = _sample()
    for seed in range(8):
        frames = aug.augment_frames([sample, _sample()], np.random.default_rng(seed))
        if frames is not None:
            _assert_equal(*frames)


def test_unannotated_reference_frame_shares_the_geometry() -> None:
    aug = _augmenter()
    sample = _sample()
    for seed in range(8):
        frames = aug.augment_frames([sample, sample.image.copy()], np.random.default_rng(seed))
        if frames is None:
            continue
        annotated, reference = frames
        np.testing.assert_array_equal(annotated.image, reference.image)
        assert len(reference) == 0 and reference.masks.shape == (0, *INPUT)
        assert reference.boxes.shape == (0, 4)
        # A single-image call with the same seed draws the same parameters.
        _assert_equal(annotated, aug(sample, np.random.default_rng(seed)))


def test_frames_must_share_a_size() -> None:
    with pytest.raises(ValueError):
        _augmenter().augment_frames([_sample(), np.zeros((10, 10, 3), np.uint8)], np.random.default_rng(0))


def test_none_when_no_gt_survives() -> None:
    aug = _augmenter()
    crowd_only = make_sample(60, 80, [[10, 10, 50, 50]], [True])
    empty = make_sample(60, 80, [])
    for seed in range(3):
        assert aug(crowd_only, np.random.default_rng(seed)) is None
        assert aug(empty, np.random.default_rng(seed)) is None
        assert aug.augment_frames([crowd_only, empty], np.random.default_rng(seed)) is None
    tiny = make_sample(60, 80, [[10, 10, 12, 40]])  # 2 px wide -> 1.6 px at 64 wide
    plain = _augmenter(photometric=False, expand=False, crop=False, mirror=False)
    assert plain(tiny, np.random.default_rng(0)) is None


def test_all_stages_off_equals_eval_transform() -> None:
    sample = _sample()
    plain = _augmenter(photometric=False, expand=False, crop=False, mirror=False, min_box_size=0.0)
    out = plain(sample, np.random.default_rng(0))
    np.testing.assert_array_equal(out.image, eval_transform(sample.image, plain.preprocess))
    expected = sample.boxes / np.array([80, 60, 80, 60], np.float32)
    np.testing.assert_allclose(out.boxes, expected, atol=1e-6)
    assert out.labels.tolist() == [0, 1, 2, 3]


def test_eval_transform_matches_preprocess_image() -> None:
    image = _sample().image
    config = PreprocessConfig(input_size=INPUT)
    np.testing.assert_array_equal(eval_transform(image, config), preprocess_image(image, config).numpy())
