"""Stage 2: flow pre-training trains only the flow modules and lowers the EPE; resumes exactly."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from vt_helpers import tiny_train_config
from yolactedge.checkpoints import read_checkpoint
from yolactedge.data.flyingchairs import FlyingChairsDataset
from yolactedge.train.flow_trainer import FlowTrainer, evaluate_flow
from yolactedge.train.logging_utils import read_csv

FLOW_PREFIXES = ("flow_net.", "flow_net_pre_convs.")


@pytest.fixture(scope="module")
def pairs(flow_root: Path):
    return FlyingChairsDataset(flow_root, "train"), FlyingChairsDataset(flow_root, "val")


def _fixed_loss(trainer: FlowTrainer, iterations=range(2)) -> float:
    """Summed loss of the batches of one epoch (4 pairs, batch 2), without training."""
    batches = trainer.batches()
    with torch.no_grad():
        return sum(float(trainer.compute_losses(batches[i], i)["total"]) for i in iterations)


def test_flow_stage_trains_only_the_flow_modules_and_lowers_the_epe(pairs, stage1_checkpoint, tmp_path):
    train, val = pairs
    # AdamW: a robust decrease within 20 steps whatever the flow net init (SGD, the default, is slower here)
    config = tiny_train_config(tmp_path, max_iter=20, optimizer="adamw", lr=1e-3, schedule="constant",
                               init=str(stage1_checkpoint))
    trainer = FlowTrainer(config, train, val, show_progress=False)
    assert trainer.model_config.is_video and trainer.model_config.name == "yolact_edge_vid_resnet50_config"
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    loss_before = _fixed_loss(trainer)
    result = trainer.train()
    assert result.status == "finished" and result.iteration == 20
    after = trainer.model.state_dict()
    frozen = [k for k in before if not k.startswith(FLOW_PREFIXES)]
    assert frozen and all(torch.equal(before[k], after[k]) for k in frozen)  # incl. BN running statistics
    changed = [k for k in before if k.startswith(FLOW_PREFIXES) and not torch.equal(before[k], after[k])]
    assert any(k.startswith("flow_net_pre_convs.") for k in changed) and any(k.startswith("flow_net.") for k in changed)
    assert _fixed_loss(trainer) < 0.8 * loss_before
    rows = read_csv(tmp_path / "losses.csv")
    assert len(rows) == 20 and all(float(r["total"]) > 0 for r in rows)
    metrics = read_csv(tmp_path / "metrics.csv")
    assert len(metrics) == 1 and float(metrics[0]["zero_flow_epe"]) > 0 and float(metrics[0]["epe"]) > 0
    saved = read_checkpoint(tmp_path / "best.pt")
    assert saved.config.is_video and saved.train_state is None


def test_zero_flow_prediction_scores_the_zero_flow_baseline(pairs, stage1_checkpoint, tmp_path):
    """The pixel conversion of the report: a network predicting no motion has the baseline's EPE."""
    train, val = pairs
    trainer = FlowTrainer(tiny_train_config(tmp_path, init=str(stage1_checkpoint)), train, val, show_progress=False)
    for pred in (trainer.model.flow_net.pred1, trainer.model.flow_net.pred2, trainer.model.flow_net.pred3):
        torch.nn.init.zeros_(pred.conv.weight)
    result = evaluate_flow(trainer.model, val)
    assert result.num_pairs == len(val)
    assert result.epe == pytest.approx([result.zero_flow_epe] * 3, rel=1e-5)


def test_flow_stage_resumes_exactly(pairs, stage1_checkpoint, tmp_path):
    """Interrupted at 3 of 6 (Ctrl-C writes interrupt.pt) and resumed = 6 uninterrupted iterations."""
    train, _ = pairs
    config = tiny_train_config(tmp_path / "full", max_iter=6, init=str(stage1_checkpoint))
    full = FlowTrainer(config, train, show_progress=False)
    full.train()

    def stop_at_3(trainer, info):
        if info.iteration == 3:
            raise KeyboardInterrupt

    part = FlowTrainer(config.replace(out_dir=str(tmp_path / "part")), train, callbacks=[stop_at_3],
                       show_progress=False)
    assert part.train().status == "interrupted"
    resumed = FlowTrainer.resume(tmp_path / "part" / "interrupt.pt", train, show_progress=False)
    assert resumed.iteration == 3
    resumed.train()
    for key, value in full.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[key], value, rtol=0, atol=0)
    assert len(read_csv(tmp_path / "part" / "losses.csv")) == 6


def test_flow_stage_in_bf16_channels_last(pairs, stage1_checkpoint, tmp_path):
    train, val = pairs
    config = tiny_train_config(tmp_path, max_iter=2, init=str(stage1_checkpoint), amp="bf16", channels_last=True)
    trainer = FlowTrainer(config, train, val, show_progress=False)
    seen = []
    trainer.model.flow_net.register_forward_hook(lambda _m, _i, out: seen.append(out[0][0].dtype))
    assert trainer.train().status == "finished"
    assert seen and seen[0] == torch.bfloat16
    rows = read_csv(tmp_path / "losses.csv")
    assert all(math.isfinite(float(r["total"])) for r in rows)
    with pytest.raises(ValueError, match="amp must be off or bf16"):
        tiny_train_config(tmp_path, amp="fp16")
