"""Learning rate as a pure function of the iteration (so a resumed run gets exactly the same LRs).

Reproduces the original ``train.py``: linear warm-up from ``warmup_init`` to ``lr`` while
``iteration <= warmup_iters`` (only when ``warmup_init < lr``), then either
* step: ``lr * gamma ** k`` with ``k`` the number of steps ``<= iteration``, or
* cosine: ``lr * (1 + cos(pi * iteration / max_iter)) / 2`` (on the full iteration count, as the
  original, so it joins the warm-up with a negligible jump), or
* constant: ``lr``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from yolactedge.train.config import TrainConfig


def resolve_steps(lr_steps: Sequence[float], max_iter: int) -> tuple[int, ...]:
    """Steps below 1 are fractions of ``max_iter``; others are iteration numbers. Sorted."""
    return tuple(sorted(int(round(s * max_iter)) if s < 1 else int(s) for s in lr_steps))


@dataclass(frozen=True)
class LRSchedule:
    lr: float
    max_iter: int
    schedule: str = "step"
    steps: tuple[int, ...] = ()
    gamma: float = 0.1
    warmup_iters: int = 0
    warmup_init: float = 0.0

    @classmethod
    def from_config(cls, config: TrainConfig, max_iter: int, world_size: int = 1) -> "LRSchedule":
        scale = config.lr_scale(world_size)
        return cls(
            lr=config.lr * scale, max_iter=max_iter, schedule=config.schedule,
            steps=resolve_steps(config.lr_steps, max_iter), gamma=config.gamma,
            warmup_iters=config.warmup_iters, warmup_init=config.warmup_init * scale,
        )

    def __call__(self, iteration: int) -> float:
        if self.warmup_iters > 0 and iteration <= self.warmup_iters and self.warmup_init < self.lr:
            return (self.lr - self.warmup_init) * (iteration / self.warmup_iters) + self.warmup_init
        if self.schedule == "cosine":
            return self.lr * (1.0 + math.cos(math.pi * iteration / self.max_iter)) / 2.0
        if self.schedule == "step":
            passed = sum(1 for step in self.steps if iteration >= step)
            return self.lr * self.gamma ** passed
        return self.lr


def learning_rate(config: TrainConfig, iteration: int, max_iter: int, world_size: int = 1) -> float:
    """Convenience: the LR of ``iteration`` for a config."""
    return LRSchedule.from_config(config, max_iter, world_size)(iteration)
