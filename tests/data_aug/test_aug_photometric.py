"""Colour jitter: range, shape, identity cases and valid float HSV."""
from __future__ import annotations

import numpy as np

from yolactedge.data.photometric import (
    PhotometricParams,
    adjust_hsv,
    bgr_to_hsv,
    draw_photometric,
    hsv_to_bgr,
    photometric_distort,
)


def _image(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (24, 32, 3)).astype(np.uint8)
    image[0, :4] = [[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 0, 255]]  # extremes
    return image


def test_distort_keeps_shape_dtype_and_range() -> None:
    image = _image()
    rng = np.random.default_rng(1)
    for _ in range(100):
        out = photometric_distort(image, draw_photometric(rng))
        assert out.shape == image.shape and out.dtype == np.float32
        assert out.min() >= 0.0 and out.max() <= 255.0
        assert np.isfinite(out).all()


def test_extreme_factors_stay_in_gamut() -> None:
    """Saturation x1.5 and brightness +32 would leave the gamut in the original."""
    params = PhotometricParams(brightness=32.0, contrast=1.5, contrast_first=True, saturation=1.5, hue=18.0)
    out = photometric_distort(_image(), params)
    assert out.min() >= 0.0 and out.max() <= 255.0


def test_neutral_params_are_identity_and_copy() -> None:
    image = _image().astype(np.float32)
    out = photometric_distort(image, PhotometricParams())
    assert out is not image
    np.testing.assert_array_equal(out, image)


def test_hsv_round_trip_is_identity() -> None:
    image = _image().astype(np.float32)
    hsv = bgr_to_hsv(image)
    assert hsv[..., 0].min() >= 0.0 and hsv[..., 0].max() < 360.0
    assert hsv[..., 1].min() >= 0.0 and hsv[..., 1].max() <= 1.0
    np.testing.assert_allclose(hsv_to_bgr(hsv), image, atol=1e-3)
    np.testing.assert_array_equal(adjust_hsv(image, 1.0, 0.0), image)
    # A full turn of hue (degrees, wrapped modulo 360) is also the identity.
    np.testing.assert_allclose(adjust_hsv(image, 1.0, 360.0), image, atol=1e-2)


def test_hue_is_in_degrees() -> None:
    red = np.array([[[0.0, 0.0, 200.0]]], np.float32)  # BGR
    green = adjust_hsv(red, 1.0, 120.0)
    np.testing.assert_allclose(green, [[[0.0, 200.0, 0.0]]], atol=1e-2)
    np.testing.assert_allclose(adjust_hsv(red, 1.0, -240.0), green, atol=1e-2)


def test_zero_saturation_gives_gray() -> None:
    out = adjust_hsv(_image().astype(np.float32), 0.0, 0.0)
    np.testing.assert_allclose(out[..., 0], out[..., 1], atol=1e-3)
    np.testing.assert_allclose(out[..., 1], out[..., 2], atol=1e-3)


def test_draw_is_deterministic_and_in_range() -> None:
    draws = [draw_photometric(np.random.default_rng(7)) for _ in range(2)]
    assert draws[0] == draws[1]
    rng = np.random.default_rng(3)
    params = [draw_photometric(rng) for _ in range(400)]
    assert all(-32.0 <= p.brightness <= 32.0 and 0.5 <= p.contrast <= 1.5 for p in params)
    assert all(0.5 <= p.saturation <= 1.5 and -18.0 <= p.hue <= 18.0 for p in params)
    applied = np.mean([p.brightness != 0.0 for p in params])
    assert 0.4 < applied < 0.6
    assert 0.4 < np.mean([p.contrast_first for p in params]) < 0.6
