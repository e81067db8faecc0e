"""Where a training step's time goes: waiting for data, forward, loss, backward, optimizer.

    python benchmarks/train_step_profile.py --data synth_bench [--workers 1] [--no-crop] [--steps 30]

The demo recipe's settings (yolact_edge_demo_config, batch 8, AdamW, bf16 autocast + channels_last
where bfloat16 is native, no expand), timed per phase over ``--steps`` steps after 5 warm-up steps.
With ``--workers 1`` the augmentation runs in a worker that shares the cores with the network, so
its cost shows up partly in the forward time; ``--workers 0`` shows it as "data".
"""
from __future__ import annotations

import argparse
import time

import torch

from _common import machine
from yolactedge.config.presets import get_config
from yolactedge.data.augment import Augmenter
from yolactedge.data.coco import CocoDataset
from yolactedge.train.config import TrainConfig, build_model_config
from yolactedge.train.data import TrainBatchSampler, TrainDataset, iterate_loader, make_loader
from yolactedge.train.precision import autocast, cpu_has_bf16, float_outputs
from yolactedge.train.trainer import Trainer

WARMUP = 5


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="dataset root with train/images and train/annotations.json")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--no-crop", action="store_true")
    p.add_argument("--steps", type=int, default=30)
    args = p.parse_args()
    train_set = CocoDataset(f"{args.data}/train/images", f"{args.data}/train/annotations.json")
    total = WARMUP + args.steps
    amp = "bf16" if cpu_has_bf16() else "off"
    config = TrainConfig(out_dir="/tmp/train_step_profile", optimizer="adamw", lr=2e-3, weight_decay=0.05,
                         schedule="cosine", max_iter=total, num_workers=args.workers, amp=amp, channels_last=True,
                         tensorboard=False, plot=False)
    config = config.replace(augment={"expand": False, "crop": not args.no_crop})
    arch = build_model_config(get_config("yolact_edge_demo_config"), train_set.class_names)
    trainer = Trainer(config, train_set, None, arch, device="cpu", show_progress=False)
    dataset = TrainDataset(train_set, Augmenter(config.augment, trainer.model_config.preprocess), config.seed)
    sampler = TrainBatchSampler(len(train_set), config.batch_size, trainer.iters_per_epoch, total, 0, config.seed)
    batches = iterate_loader(make_loader(dataset, sampler, args.workers))
    trainer._set_train_mode()
    phases = dict.fromkeys(("data", "forward", "loss", "backward", "optimizer"), 0.0)
    for step in range(total):
        marks = [time.perf_counter()]
        images, targets = next(batches)
        images = images.contiguous(memory_format=torch.channels_last)
        marks.append(time.perf_counter())
        trainer.optimizer.zero_grad(set_to_none=True)
        with autocast(trainer.device, trainer.amp_dtype):
            out = trainer.wrapped(images)
        marks.append(time.perf_counter())
        losses = trainer.loss_fn(float_outputs(out), targets, generator=torch.Generator().manual_seed(step))
        marks.append(time.perf_counter())
        losses["total"].backward()
        marks.append(time.perf_counter())
        trainer.optimizer.step()
        marks.append(time.perf_counter())
        if step >= WARMUP:
            for name, start, end in zip(phases, marks, marks[1:]):
                phases[name] += end - start
    per_step = {name: 1000 * value / args.steps for name, value in phases.items()}
    print(f"{machine()}; amp {amp}, workers {args.workers}, crop {not args.no_crop}, {args.steps} steps of 8 images")
    print(" | ".join(f"{name} {ms:.0f} ms" for name, ms in per_step.items()) + f" | step {sum(per_step.values()):.0f} ms")


if __name__ == "__main__":
    main()
