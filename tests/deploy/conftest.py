"""Fixtures for the deployment tests (helpers live in deploy_helpers.py)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from deploy_helpers import write_images


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """PyTorch here only produces reference features. With another process busy on one of the two
    cores, two OpenMP threads made a small forward pass 30x slower (1.55 s vs 0.05 s, measured);
    one thread is immune to that. Restored after each module."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def calib_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("calib")
    write_images(folder, 6)
    return folder


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("calib-cache")


@pytest.fixture()
def test_image() -> np.ndarray:
    from yolactedge.data.synth import generate_image

    return generate_image(5, 0, image_size=(150, 190)).image
