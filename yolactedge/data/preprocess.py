"""Network input preparation, exactly as the original ``BaseTransform``, in one place.

BGR uint8 image -> float32 -> cv2 bilinear resize to the network size (aspect ratio not kept)
-> per-channel (x - mean) / std in BGR order -> BGR to RGB -> CHW.
"""
from __future__ import annotations

import cv2
import numpy as np
import torch

from yolactedge.config.schema import BGR_MEANS, BGR_STDS, PreprocessConfig
from yolactedge.data.image_io import to_bgr_uint8

__all__ = ["BGR_MEANS", "BGR_STDS", "PreprocessConfig", "normalize_resized", "preprocess_batch", "preprocess_image", "resize_bgr"]


def resize_bgr(image: np.ndarray, input_size: tuple[int, int]) -> np.ndarray:
    """float32 BGR image resized to (height, width) with cv2 bilinear, as the original."""
    height, width = input_size
    image = image.astype(np.float32, copy=False)
    if image.shape[0] != height or image.shape[1] != width:
        image = cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
    return image


def normalize_resized(image: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    """Already-resized float BGR HxWx3 -> normalised float32 CxHxW (RGB if configured)."""
    mean = np.asarray(config.mean, np.float32)
    std = np.asarray(config.std, np.float32)
    out = (image.astype(np.float32, copy=False) - mean) / std
    if config.to_rgb:
        out = out[:, :, ::-1]
    return np.ascontiguousarray(out.transpose(2, 0, 1))


def preprocess_image(image: np.ndarray, config: PreprocessConfig) -> torch.Tensor:
    """One BGR image (any size, uint8/uint16/gray/BGRA accepted) -> float32 tensor [3,H,W]."""
    image = to_bgr_uint8(image)
    return torch.from_numpy(normalize_resized(resize_bgr(image, config.input_size), config))


def preprocess_batch(images: list[np.ndarray], config: PreprocessConfig) -> torch.Tensor:
    """Several BGR images -> float32 tensor [N,3,H,W]."""
    return torch.stack([preprocess_image(im, config) for im in images], 0)
