"""Deterministic training data: the sample at any iteration is a pure function of (seed, iteration).

* Order: epoch ``e`` visits ``permutation(seed, e)`` of the dataset in global batches; rank ``r``
  of ``world`` takes its contiguous slice of each global batch (one permutation, sharded), so
  every image is seen once per epoch over all processes.
* Augmentation: item ``i`` of epoch ``e`` draws from ``np.random.default_rng([seed, e, i, repeat])``
  (``repeat`` > 0 only when a tiny dataset is cycled to fill one batch); when augmentation leaves
  no ground truth, the same generator picks another image (the original resamples too).

So a run resumed at iteration ``k`` sees exactly the batches an uninterrupted run would, with or
without DataLoader workers, and the same image gets the same augmentation on every rank.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Protocol, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from yolactedge.data.augment import AugmentedSample, Augmenter
from yolactedge.data.errors import DatasetError
from yolactedge.data.sample import Sample
from yolactedge.train.targets import Targets

MAX_RESAMPLES = 50  # consecutive draws without usable GT before we call the data broken


class SampleSource(Protocol):
    def __len__(self) -> int: ...
    def __getitem__(self, index: int) -> Sample: ...


@dataclass(frozen=True)
class ItemKey:
    """What one DataLoader item is: dataset ``index`` at ``epoch`` (``repeat``: see module doc)."""

    epoch: int
    index: int
    repeat: int = 0


class TrainDataset(Dataset):
    """Wraps a dataset of ``Sample`` with the augmenter; ``dataset[ItemKey]`` -> ``AugmentedSample``."""

    def __init__(self, dataset: SampleSource, augmenter: Augmenter, seed: int = 0,
                 max_resamples: int = MAX_RESAMPLES) -> None:
        if len(dataset) == 0:
            raise DatasetError("the training dataset is empty (0 images)")
        self.dataset = dataset
        self.augmenter = augmenter
        self.seed = int(seed)
        self.max_resamples = max_resamples

    def __len__(self) -> int:
        return len(self.dataset)

    def rng(self, key: ItemKey) -> np.random.Generator:
        return np.random.default_rng([self.seed, key.epoch, key.index, key.repeat])

    def __getitem__(self, key: ItemKey) -> AugmentedSample:
        rng = self.rng(key)
        index = key.index
        tried = []
        for _ in range(self.max_resamples):
            out = self.augmenter(self.dataset[index], rng)
            if out is not None:
                return out
            tried.append(index)
            index = int(rng.integers(len(self.dataset)))
        shown = ", ".join(str(i) for i in tried[:5])
        raise DatasetError(
            f"{len(tried)} consecutive training images (indices {shown}, ...) had no usable non-crowd object "
            "after augmentation: the annotations are probably empty, all crowd, or their boxes are tiny. "
            "Run `yolactedge data-check` on the annotation file."
        )


def epoch_order(seed: int, epoch: int, dataset_size: int, min_length: int) -> list[tuple[int, int]]:
    """(index, repeat) pairs of one epoch: a seeded permutation, cycled up to ``min_length``."""
    perm = np.random.default_rng([seed, epoch]).permutation(dataset_size)
    length = max(dataset_size, min_length)
    return [(int(perm[k % dataset_size]), k // dataset_size) for k in range(length)]


class TrainBatchSampler(Sampler):
    """Yields this rank's batches of ``ItemKey`` for iterations ``start_iter .. max_iter - 1``.

    Stateless: iteration ``it`` belongs to epoch ``it // iters_per_epoch``; so resuming is just a
    new sampler with a later ``start_iter``.
    """

    def __init__(self, dataset_size: int, batch_size: int, iters_per_epoch: int, max_iter: int,
                 start_iter: int = 0, seed: int = 0, rank: int = 0, world_size: int = 1) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world size {world_size}")
        self.dataset_size = dataset_size
        self.batch_size = batch_size
        self.iters_per_epoch = iters_per_epoch
        self.max_iter = max_iter
        self.start_iter = start_iter
        self.seed = seed
        self.rank = rank
        self.world_size = world_size

    def __len__(self) -> int:
        return max(0, self.max_iter - self.start_iter)

    def batch(self, iteration: int, order: Sequence[tuple[int, int]] | None = None) -> list[ItemKey]:
        epoch, step = divmod(iteration, self.iters_per_epoch)
        global_batch = self.batch_size * self.world_size
        if order is None:
            order = epoch_order(self.seed, epoch, self.dataset_size, global_batch)
        start = step * global_batch + self.rank * self.batch_size
        return [ItemKey(epoch, *order[k]) for k in range(start, start + self.batch_size)]

    def __iter__(self) -> Iterator[list[ItemKey]]:
        cached_epoch, order = -1, None
        for iteration in range(self.start_iter, self.max_iter):
            epoch = iteration // self.iters_per_epoch
            if epoch != cached_epoch:
                order = epoch_order(self.seed, epoch, self.dataset_size, self.batch_size * self.world_size)
                cached_epoch = epoch
            yield self.batch(iteration, order)


def collate(samples: Sequence[AugmentedSample]) -> tuple[torch.Tensor, list[Targets]]:
    """``images [B,3,H,W]`` float32 and one ``Targets`` per image (crowds moved last)."""
    images = torch.from_numpy(np.stack([s.image for s in samples]))
    targets = [Targets.from_arrays(s.boxes, s.labels, s.masks, s.crowd) for s in samples]
    return images, targets


def worker_init(worker_id: int) -> None:
    """Workers: one torch thread each (no oversubscription) and seeded global RNGs, for any code
    that still uses them; our augmentation only uses the per-item generator.

    ``cv2.setNumThreads`` must not be called here: in a forked child it tears down the parent's
    OpenCV thread pool, whose threads do not exist in the child, and deadlocks.
    """
    torch.set_num_threads(1)
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def make_loader(dataset: TrainDataset, sampler: TrainBatchSampler, num_workers: int = 0,
                pin_memory: bool = False) -> DataLoader:
    kwargs: dict[str, Any] = {}
    if num_workers > 0:
        kwargs = {"worker_init_fn": worker_init, "persistent_workers": False, "prefetch_factor": 2}
    return DataLoader(dataset, batch_sampler=sampler, num_workers=num_workers, collate_fn=collate,
                      pin_memory=pin_memory, **kwargs)


def check_datasets(train_set: Any, val_set: Any) -> None:
    """Fail before training on what would otherwise fail hours in: empty data, missing image files,
    no usable annotation, train/val class mismatch."""
    if train_set is None or len(train_set) == 0:
        raise DatasetError("the training dataset is empty (0 images)")
    for name, ds in (("training", train_set), ("validation", val_set)):
        if ds is None or not hasattr(ds, "image_path"):
            continue
        missing = [str(ds.image_path(i)) for i in range(len(ds)) if not Path(ds.image_path(i)).is_file()]
        if missing:
            where = f" listed in {ds.ann_file}" if hasattr(ds, "ann_file") else ""
            raise DatasetError(f"{len(missing)} of {len(ds)} {name} image files{where} do not exist, e.g. "
                               f"{', '.join(missing[:3])}; check the image folder")
    if hasattr(train_set, "annotations"):
        usable = any(any(not a.get("iscrowd", 0) for a in train_set.annotations(i)) for i in range(len(train_set)))
        if not usable:
            raise DatasetError(f"no training image has a non-crowd annotation "
                               f"({getattr(train_set, 'ann_file', 'training set')}): nothing to learn from")
    if val_set is not None and tuple(val_set.class_names) != tuple(train_set.class_names):
        raise DatasetError(f"training and validation categories differ: {list(train_set.class_names)[:8]} vs "
                           f"{list(val_set.class_names)[:8]}; both annotation files must list the same categories")


def iterate_loader(loader: Any) -> Iterator[Any]:
    """Iterate the DataLoader, adding advice to the classic 'worker killed' (host RAM) failure."""
    iterator = iter(loader)
    while True:
        try:
            batch = next(iterator)
        except StopIteration:
            return
        except RuntimeError as exc:
            if "DataLoader worker" in str(exc) and "killed" in str(exc):
                raise RuntimeError(f"{exc}\nA data-loading worker was killed, usually for lack of host RAM: lower "
                                   "--workers (0 loads in the main process) or --batch.") from exc
            raise
        yield batch
