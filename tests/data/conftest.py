"""Tiny synthetic datasets, generated once per test session (all well under a second)."""
from __future__ import annotations

import pytest

from yolactedge.data.synth import generate_flow_pairs, generate_image_dataset, generate_video_dataset

IMAGE_SEED = 1  # seed 1 gives crowd regions in the 5-image train split
IMAGE_SIZE = (96, 128)


@pytest.fixture(scope="session")
def image_params():
    return {"seed": IMAGE_SEED, "size": IMAGE_SIZE}


@pytest.fixture(scope="session")
def image_set(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth_images")
    return generate_image_dataset(out, num_train=5, num_val=3, image_size=IMAGE_SIZE, seed=IMAGE_SEED,
                                  image_format="png", progress=False)


@pytest.fixture(scope="session")
def video_set(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth_videos")
    return generate_video_dataset(out, num_videos=2, num_val_videos=1, num_frames=11, annotate_every=5,
                                  image_size=(64, 80), seed=0, save_flow=True, progress=False)


@pytest.fixture(scope="session")
def flow_set(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth_flow")
    return generate_flow_pairs(out, num_pairs=4, image_size=(64, 80), seed=0, val_fraction=0.5, progress=False)
