"""End-to-end training runs: the loss goes down, Ctrl-C saves, divergence stops with advice."""
from __future__ import annotations

import csv

import pytest
import torch
from trainloop_helpers import tiny_arch, tiny_config

from yolactedge.checkpoints import read_checkpoint
from yolactedge.train.losses import YolactLoss
from yolactedge.train.trainer import Trainer, TrainingDiverged


def _totals(path) -> list[float]:
    with open(path, newline="") as f:
        return [float(r["total"]) for r in csv.DictReader(f)]


@pytest.mark.slow
def test_short_run_learns_and_writes_everything(tmp_path, datasets) -> None:
    train, val = datasets
    cfg = tiny_config(tmp_path, max_iter=30, batch_size=4, warmup_iters=3, val_every=15, val_unit="iter",
                      save_every=10, plot=True, tensorboard=True)
    result = Trainer(cfg, train, val, tiny_arch(train.class_names), device="cpu", show_progress=False).train()
    assert result.status == "finished" and result.iteration == 30
    totals = _totals(tmp_path / "losses.csv")
    assert len(totals) == 30
    first, last = sum(totals[:5]) / 5, sum(totals[-5:]) / 5
    assert last < 0.8 * first, f"loss did not decrease: first {first:.2f}, last {last:.2f}"
    for name in ("last.pt", "best.pt", "losses.png", "metrics.csv"):
        assert (tmp_path / name).is_file(), name
    assert any((tmp_path / "tb").iterdir())
    with open(tmp_path / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["iteration"]) for r in rows] == [15, 30]
    assert all(float(r["mask_AP"]) >= 0 for r in rows)
    last = read_checkpoint(tmp_path / "last.pt")
    assert last.config.class_names == train.class_names  # from the dataset's categories
    assert last.train_state["iteration"] == 30
    assert read_checkpoint(tmp_path / "best.pt").train_state is None  # weights-only, deployable


def test_ctrl_c_writes_a_loadable_checkpoint(tmp_path, datasets) -> None:
    train, _ = datasets

    def press_ctrl_c(trainer, info):
        if info.iteration == 3:
            raise KeyboardInterrupt

    trainer = Trainer(tiny_config(tmp_path), train, None, tiny_arch(train.class_names), device="cpu",
                      callbacks=[press_ctrl_c], show_progress=False)
    result = trainer.train()
    assert result.status == "interrupted" and result.iteration == 3
    assert "--resume" in result.message and "interrupt.pt" in result.message
    ckpt = read_checkpoint(tmp_path / "interrupt.pt")
    assert ckpt.train_state["iteration"] == 3
    resumed = Trainer.resume(tmp_path / "interrupt.pt", train, device="cpu", show_progress=False)
    assert resumed.iteration == 3
    for name, value in trainer.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[name]), name


def test_injected_nan_loss_stops_with_advice_and_skips_steps(tmp_path, datasets, monkeypatch) -> None:
    train, _ = datasets
    real_forward = YolactLoss.forward
    calls = {"n": 0}

    def nan_from_third_call(self, out, targets, generator=None):
        losses = real_forward(self, out, targets, generator)
        calls["n"] += 1
        if calls["n"] >= 3:
            losses["total"] = losses["total"] * float("nan")
        return losses

    monkeypatch.setattr(YolactLoss, "forward", nan_from_third_call)
    trainer = Trainer(tiny_config(tmp_path, max_iter=20, max_nonfinite=3, save_every=1), train, None,
                      tiny_arch(train.class_names), device="cpu", show_progress=False)
    with pytest.raises(TrainingDiverged) as info:
        trainer.train()
    message = str(info.value)
    assert "iteration 5" in message  # 2 good steps, then 3 non-finite ones
    assert "learning rate" in message and "batch" in message and "degenerate boxes" in message
    assert "last.pt (iteration 2)" in message  # the last checkpoint with a good step
    assert trainer.iteration == 5
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())  # NaN steps were skipped
    good = read_checkpoint(tmp_path / "last.pt")
    for name, value in trainer.model.state_dict().items():
        if not name.endswith("num_batches_tracked") and "running" not in name:
            assert torch.equal(value, good.state_dict[name]), name


def test_huge_learning_rate_is_caught(tmp_path, datasets) -> None:
    train, _ = datasets
    cfg = tiny_config(tmp_path, max_iter=40, lr=1e6, warmup_iters=0, max_nonfinite=2)
    with pytest.raises(TrainingDiverged, match="Loss diverged at iteration"):
        Trainer(cfg, train, None, tiny_arch(train.class_names), device="cpu", show_progress=False).train()


def test_bf16_autocast_and_channels_last_on_cpu(tmp_path, datasets) -> None:
    """CPU mixed precision: the network runs in bfloat16, the loss and the weights stay float32."""
    train, _ = datasets
    cfg = tiny_config(tmp_path, max_iter=6, batch_size=2, amp="bf16", channels_last=True)
    trainer = Trainer(cfg, train, None, tiny_arch(train.class_names), device="cpu", show_progress=False)
    seen = []
    conv = next(m for m in trainer.model.modules() if isinstance(m, torch.nn.Conv2d))
    conv.register_forward_hook(lambda _m, _i, out: seen.append((out.dtype, out.is_contiguous(
        memory_format=torch.channels_last))))
    result = trainer.train()
    assert result.status == "finished" and result.iteration == 6
    assert seen and all(s == (torch.bfloat16, True) for s in seen)
    assert all(torch.isfinite(torch.tensor(_totals(tmp_path / "losses.csv"))))
    state = read_checkpoint(tmp_path / "last.pt").state_dict
    assert all(v.dtype == torch.float32 for v in state.values() if v.is_floating_point())
