"""Exact resume: N iterations + resume N more == 2N uninterrupted (same weights, same logs)."""
from __future__ import annotations

import csv

import torch
from trainloop_helpers import tiny_arch, tiny_config

from yolactedge.checkpoints import read_checkpoint
from yolactedge.train.trainer import Trainer


def _rows(path):
    with open(path, newline="") as f:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(f)]


def test_resume_from_last_gives_the_uninterrupted_weights(tmp_path, datasets) -> None:
    train, _ = datasets
    arch = tiny_arch(train.class_names)
    # 12 images, batch 2: 6 iterations per epoch, so the run crosses an epoch boundary and a
    # reshuffle; an LR step at iteration 6 and warm-up make the schedule matter too.
    changes = dict(max_iter=10, save_every=4, lr_steps=(6,), warmup_iters=3)
    # Uninterrupted, with a DataLoader worker: data must not depend on where it is loaded.
    full = Trainer(tiny_config(tmp_path / "full", num_workers=1, **changes), train, None, arch, device="cpu",
                   show_progress=False)
    full.train()

    def stop_at_6(trainer, info):
        if info.iteration == 6:
            raise KeyboardInterrupt

    first = Trainer(tiny_config(tmp_path / "split", **changes), train, None, arch, device="cpu",
                    callbacks=[stop_at_6], show_progress=False)
    assert first.train().status == "interrupted"
    assert read_checkpoint(tmp_path / "split" / "last.pt").train_state["iteration"] == 4
    resumed = Trainer.resume(tmp_path / "split" / "last.pt", train, device="cpu", show_progress=False)
    assert resumed.iteration == 4
    assert resumed.train().status == "finished"

    expected = full.model.state_dict()
    for name, value in resumed.model.state_dict().items():
        assert torch.equal(value, expected[name]), f"{name} differs after resume"
    for a, b in zip(full.optimizer.state_dict()["state"].values(), resumed.optimizer.state_dict()["state"].values()):
        assert torch.equal(a["momentum_buffer"], b["momentum_buffer"])
    # The loss log is rewritten from the resume point: identical to the uninterrupted one.
    assert _rows(tmp_path / "split" / "losses.csv") == _rows(tmp_path / "full" / "losses.csv")
