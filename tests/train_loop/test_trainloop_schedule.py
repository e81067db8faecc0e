"""LR schedule values, TrainConfig round trip, deterministic data order and augmentation."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from yolactedge.data.augment import AugmentConfig, Augmenter
from yolactedge.data.errors import DatasetError
from yolactedge.data.preprocess import PreprocessConfig
from yolactedge.train.config import TrainConfig
from yolactedge.train.data import ItemKey, TrainBatchSampler, TrainDataset, collate
from yolactedge.train.schedule import LRSchedule, resolve_steps


def test_step_schedule_with_warmup_matches_the_original() -> None:
    cfg = TrainConfig(lr=1e-3, warmup_iters=500, warmup_init=1e-4, lr_steps=(280_000, 600_000, 700_000, 750_000),
                      max_iter=800_000, lr_scaling=False)
    s = LRSchedule.from_config(cfg, 800_000)
    assert s(0) == pytest.approx(1e-4)
    assert s(250) == pytest.approx(1e-4 + 0.5 * 9e-4)
    assert s(500) == pytest.approx(1e-3)
    assert s(501) == pytest.approx(1e-3)
    assert s(279_999) == pytest.approx(1e-3)
    assert s(280_000) == pytest.approx(1e-4)
    assert s(600_000) == pytest.approx(1e-5)
    assert s(700_000) == pytest.approx(1e-6)
    assert s(799_999) == pytest.approx(1e-7)


def test_fraction_steps_resolve_against_max_iter() -> None:
    assert resolve_steps((0.35, 0.75, 0.875, 0.9375), 800_000) == (280_000, 600_000, 700_000, 750_000)
    assert resolve_steps((0.5, 30), 100) == (30, 50)  # mixed: iterations >= 1, fractions < 1


def test_cosine_schedule() -> None:
    s = LRSchedule(lr=0.02, max_iter=1000, schedule="cosine", warmup_iters=10, warmup_init=0.0)
    assert s(5) == pytest.approx(0.01)  # warm-up
    assert s(500) == pytest.approx(0.01)  # lr * (1 + cos(pi/2)) / 2
    assert s(250) == pytest.approx(0.02 * (1 + math.cos(math.pi / 4)) / 2)
    assert s(1000) == pytest.approx(0.0, abs=1e-12)


def test_no_warmup_when_init_is_not_below_lr() -> None:
    assert LRSchedule(lr=1e-3, max_iter=10, warmup_iters=5, warmup_init=1e-2)(0) == pytest.approx(1e-3)


def test_linear_scaling_rule() -> None:
    cfg = TrainConfig(lr=1e-3, warmup_init=1e-4, batch_size=4, warmup_iters=0)
    assert LRSchedule.from_config(cfg, 100, world_size=4).lr == pytest.approx(2e-3)  # 4 GPUs x 4 / 8
    assert LRSchedule.from_config(cfg.replace(lr_scaling=False), 100, world_size=4).lr == pytest.approx(1e-3)


def test_epochs_are_the_primary_unit() -> None:
    cfg = TrainConfig(epochs=3, batch_size=4)
    assert cfg.iters_per_epoch(10) == 2 and cfg.total_iters(10) == 6
    assert cfg.total_iters(10, world_size=2) == 3  # global batch 8
    assert cfg.iters_per_epoch(3) == 1  # a tiny dataset is cycled into one batch
    assert cfg.replace(max_iter=7).total_iters(10) == 7


def test_train_config_round_trip_and_validation() -> None:
    cfg = TrainConfig(lr=0.5, lr_steps=(0.5, 0.9), augment=AugmentConfig(expand=False), schedule="cosine")
    again = TrainConfig.from_dict(cfg.to_dict())
    assert again == cfg
    with pytest.raises(ValueError, match="schedule"):
        TrainConfig(schedule="poly")
    with pytest.raises(ValueError, match="unknown TrainConfig fields"):
        TrainConfig.from_dict({"lr": 1.0, "learning_rate": 2.0})


def test_sampler_shards_one_permutation_and_resumes_statelessly() -> None:
    kw = dict(dataset_size=10, batch_size=2, iters_per_epoch=2, max_iter=6, seed=1, world_size=2)
    rank0 = list(TrainBatchSampler(rank=0, **kw))
    rank1 = list(TrainBatchSampler(rank=1, **kw))
    epoch0 = [k.index for batch in rank0[:2] + rank1[:2] for k in batch]
    assert len(set(epoch0)) == 8  # no image twice within an epoch across ranks
    assert list(TrainBatchSampler(rank=0, start_iter=3, **kw)) == rank0[3:]
    assert {k.epoch for k in rank0[2]} == {1}


def test_augmentation_is_a_function_of_seed_epoch_index(datasets) -> None:
    train, _ = datasets
    aug = Augmenter(AugmentConfig(), PreprocessConfig(input_size=(96, 96)))
    ds = TrainDataset(train, aug, seed=5)
    a, b = ds[ItemKey(2, 3)], ds[ItemKey(2, 3)]
    assert np.array_equal(a.image, b.image) and np.array_equal(a.boxes, b.boxes)
    c = ds[ItemKey(3, 3)]
    assert not np.array_equal(a.image, c.image)
    images, targets = collate([a, c])
    assert images.shape == (2, 3, 96, 96) and images.dtype == torch.float32
    assert len(targets) == 2 and targets[0].masks.shape[-2:] == (96, 96)


def test_unusable_data_gives_a_clear_error(datasets) -> None:
    train, _ = datasets

    class NoGT:
        def __call__(self, sample, rng):
            return None

    with pytest.raises(DatasetError, match="no usable non-crowd object"):
        TrainDataset(train, NoGT(), max_resamples=3)[ItemKey(0, 0)]
    with pytest.raises(DatasetError, match="empty"):
        TrainDataset([], NoGT())


def test_optimizer_choice_is_validated():
    import pytest

    from yolactedge.train.config import TrainConfig

    assert TrainConfig(optimizer="adamw").to_dict()["optimizer"] == "adamw"
    with pytest.raises(ValueError, match="optimizer"):
        TrainConfig(optimizer="lion")
