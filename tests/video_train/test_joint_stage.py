"""Stage 3: joint fine-tuning keeps backbone and phase-1 FPN frozen, trains the rest, finite losses."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vt_helpers import tiny_arch, tiny_train_config
from yolactedge.data.coco import CocoDataset
from yolactedge.model import build_model
from yolactedge.train.logging_utils import read_csv
from yolactedge.train.video_trainer import JOINT_TRAINABLE, VideoTrainer, training_outputs

FROZEN = ("backbone.", "fpn_phase_1.")


def test_training_outputs_equal_the_training_forward():
    torch.manual_seed(0)
    model = build_model(tiny_arch()).train()
    model.backbone.eval()  # deterministic BatchNorm for the comparison
    x = torch.randn(2, 3, 96, 96)
    ref = model(x)
    feats, _ = model.keyframe_features(x)
    out = training_outputs(model, feats)
    for name in ("loc", "conf", "mask", "priors", "proto", "segm"):
        torch.testing.assert_close(getattr(out, name), getattr(ref, name))


@pytest.mark.parametrize("fresh", [False, "blocks", "lite"])
def test_joint_stage_trains_all_but_backbone_and_phase_1_fpn(videos, coco_root, stage2_checkpoint, tmp_path, fresh):
    """With ``fresh_blocks`` the shallow pass starts as a copy of the backbone's blocks (the
    stage-2 checkpoint has none) and trains too, its BatchNorm statistics frozen; ``fresh_lite``
    starts from its own initialisation and trains."""
    train, _ = videos
    joint = CocoDataset(coco_root / "train" / "images", coco_root / "train" / "annotations.json")
    config = tiny_train_config(tmp_path, max_iter=3, init=str(stage2_checkpoint), fresh_warmup_iters=2)
    flow = {"fresh_blocks" if fresh == "blocks" else "fresh_lite": (1, 1) if fresh == "blocks" else (8, 16),
            "fresh_levels": "P4P5"} if fresh else None
    trainer = VideoTrainer(config, train, joint_set=joint, flow=flow, show_progress=False)
    assert trainer.fm_kind == "cosine"  # the model has SPA
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    if fresh == "blocks":
        stage = trainer.model.backbone.selected_layers[1]
        for name in ("conv1.weight", "bn2.running_var"):
            assert torch.equal(before[f"fresh_top.c4_blocks.0.{name}"], before[f"backbone.layers.{stage}.0.{name}"])
    mults = [group["lr_mult"] for group in trainer.optimizer.param_groups]
    assert mults == ([1.0, 10.0] if fresh == "lite" else [1.0])  # from scratch: 10x lr by default
    assert trainer.train().status == "finished"
    lrs = [group["lr"] for group in trainer.optimizer.param_groups]
    assert lrs[-1] == pytest.approx(mults[-1] * lrs[0])
    after = trainer.model.state_dict()
    frozen = [k for k in before if k.startswith(FROZEN) or (k.startswith("fresh_top.") and "running_" in k)]
    assert frozen and all(torch.equal(before[k], after[k]) for k in frozen)  # incl. BN running statistics
    for module in JOINT_TRAINABLE:
        keys = [k for k in before if k.startswith(module + ".")]
        if module == "fresh_top" and not fresh:
            assert not keys
            continue
        assert keys and any(not torch.equal(before[k], after[k]) for k in keys), module
    rows = read_csv(tmp_path / "losses.csv")
    assert len(rows) == 3
    for row in rows:
        values = {k: float(row[k]) for k in ("box", "class", "mask", "semantic", "compute", "warp", "fm", "joint",
                                             "total")}
        assert all(math.isfinite(v) for v in values.values())
        assert values["compute"] > 0 and values["warp"] > 0 and values["joint"] > 0 and values["fm"] > 0
        assert values["total"] == pytest.approx(values["compute"] + values["warp"] + values["fm"] + values["joint"],
                                                 rel=1e-4)


def test_feature_matching_is_zero_when_the_warp_reproduces_the_frame(videos, tmp_path):
    """No SPA, identity flow (zero flow, unit scale, zero bias) and the reference equal to the annotated
    frame: the warped W4/W5 equal the full network's M4/M5, so W is 0 and both passes agree."""
    train, _ = videos
    config = tiny_train_config(tmp_path, fm_loss="cosine")
    trainer = VideoTrainer(config, train, model_config=tiny_arch().replace(flow={"use_spa": False}),
                           show_progress=False)
    for pred in (trainer.model.flow_net.pred2, trainer.model.flow_net.pred3):
        torch.nn.init.zeros_(pred.conv.weight)
        torch.nn.init.zeros_(pred.scale.weight)
        torch.nn.init.ones_(pred.scale.bias)
        torch.nn.init.zeros_(pred.bias.weight)
        torch.nn.init.zeros_(pred.bias.bias)
    batch = trainer.batches()[0]
    batch.refs = batch.images.clone()
    with torch.no_grad():
        losses = trainer.compute_losses(batch, 0)
    assert float(losses["fm"]) == pytest.approx(0.0, abs=1e-5)
    assert float(losses["warp"]) == pytest.approx(float(losses["compute"]), rel=1e-4)
    batch.refs = batch.refs.flip(-1)  # a different keyframe: the warped features no longer match
    with torch.no_grad():
        assert float(trainer.compute_losses(batch, 0)["fm"]) > 1e-3


def _first_batch_losses(videos, stage2_checkpoint, out_dir, **config) -> dict[str, float]:
    """The losses of the first training batch for a config (no update)."""
    trainer = VideoTrainer(tiny_train_config(out_dir, init=str(stage2_checkpoint), **config), videos[0],
                           show_progress=False)
    with torch.no_grad():
        return {k: float(v) for k, v in trainer.compute_losses(trainer.batches()[0], 0).items()}


def test_warp_alpha_weights_only_the_warped_pass(videos, stage2_checkpoint, tmp_path):
    one = _first_batch_losses(videos, stage2_checkpoint, tmp_path / "1", warp_alpha=1.0)
    weighted = _first_batch_losses(videos, stage2_checkpoint, tmp_path / "2.5", warp_alpha=2.5)
    assert weighted["compute"] == pytest.approx(one["compute"], rel=1e-5)
    assert weighted["fm"] == pytest.approx(one["fm"], rel=1e-5)
    assert weighted["warp"] == pytest.approx(2.5 * one["warp"], rel=1e-5)
    assert weighted["total"] == pytest.approx(one["total"] + 1.5 * one["warp"], rel=1e-5)
    with pytest.raises(ValueError, match="warp_alpha"):
        tiny_train_config(tmp_path, warp_alpha=-1.0)


def test_distill_alpha_adds_a_weighted_distillation_term(videos, stage2_checkpoint, tmp_path):
    off = _first_batch_losses(videos, stage2_checkpoint, tmp_path / "0", distill_alpha=0.0)
    on = _first_batch_losses(videos, stage2_checkpoint, tmp_path / "2", distill_alpha=2.0)
    assert off["distill"] == 0.0 and on["distill"] > 0
    assert on["warp"] == pytest.approx(off["warp"], rel=1e-5)
    assert on["total"] == pytest.approx(off["total"] + on["distill"], rel=1e-5)
    with pytest.raises(ValueError, match="distill_alpha"):
        tiny_train_config(tmp_path, distill_alpha=-1.0)


def test_joint_stage_in_bf16_channels_last_keeps_float32_losses_and_weights(videos, stage2_checkpoint, tmp_path):
    train, _ = videos
    config = tiny_train_config(tmp_path, max_iter=2, init=str(stage2_checkpoint), amp="bf16", channels_last=True)
    trainer = VideoTrainer(config, train, show_progress=False)
    seen = []
    trainer.model.proto_net.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
    assert trainer.train().status == "finished"
    assert seen and set(seen) == {torch.bfloat16}
    rows = read_csv(tmp_path / "losses.csv")
    assert all(math.isfinite(float(r["total"])) and float(r["warp"]) > 0 for r in rows)
    assert all(v.dtype == torch.float32 for v in trainer.model.state_dict().values() if v.is_floating_point())


def test_stage_3_with_a_deeper_spa_replaces_the_untrained_one(videos, stage2_checkpoint, tmp_path, caplog):
    """``--spa-depth`` at stage 3: the stage-2 model's one-conv SPA (never trained) is not loaded into
    the deeper one, which starts as the identity and learns in every layer."""
    train, _ = videos
    config = tiny_train_config(tmp_path, max_iter=3, init=str(stage2_checkpoint))
    with caplog.at_level("WARNING"):
        trainer = VideoTrainer(config, train, flow={"spa_depth": 2}, show_progress=False)
    assert trainer.model_config.flow.spa_depth == 2 and "SPA depth 1" in caplog.text
    branch = trainer.model.spa.refine_convs[0]
    assert torch.count_nonzero(branch[0].weight) > 0 and torch.count_nonzero(branch[2].weight) == 0
    before = {k: v.clone() for k, v in trainer.model.state_dict().items() if k.startswith("spa.")}
    assert trainer.train().status == "finished"
    after = trainer.model.state_dict()
    assert all(not torch.equal(before[k], after[k]) for k in before if k.endswith("weight"))


def test_fresh_lite_warm_up_trains_only_the_fresh_top_and_lowers_its_loss(videos, stage2_checkpoint, tmp_path):
    """The warm-up imitates the frozen network's M4/M5 on single frames before the first iteration;
    a resumed run (iteration > 0) does not repeat it. By default: 3000 iterations for the lite top only."""
    from yolactedge.train.fresh_warmup import warm_up_fresh_top

    train, _ = videos
    config = tiny_train_config(tmp_path, max_iter=1, init=str(stage2_checkpoint))
    trainer = VideoTrainer(config, train, flow={"fresh_lite": (8, 16), "fresh_lite_input": "c3"}, show_progress=False)
    assert trainer.fresh_warmup_iters() == 3000
    blocks = VideoTrainer(config, train, flow={"fresh_blocks": (1, 1)}, show_progress=False)
    assert blocks.fresh_warmup_iters() == 0
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.set_train_mode()
    first, last = warm_up_fresh_top(trainer.model, train, trainer.model_config.preprocess, iters=40, batch_size=2,
                                    lr=3e-3, offset_range=(1, 2), seed=0, autocast=trainer.autocast,
                                    prepare=trainer.to_device)
    assert math.isfinite(first) and last < first
    after = trainer.model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("fresh_top.") for k in changed)
    calls = []
    trainer.warm_up = lambda: calls.append(trainer.iteration)
    trainer.iteration = 1
    trainer.max_iter = 2
    trainer.train()
    assert calls == []  # resumed past iteration 0: no second warm-up


def test_a_warp_corrector_warms_up_on_pairs_and_trains_only_itself(videos, stage2_checkpoint, tmp_path):
    """``fresh_lite_input="c3+warp"``: the warm-up warps a reference frame with the stage-2 flow net and
    trains the corrections; flow net and everything else stay as they were."""
    from yolactedge.train import fresh_warmup

    train, _ = videos
    config = tiny_train_config(tmp_path, max_iter=1, init=str(stage2_checkpoint))
    trainer = VideoTrainer(config, train, flow={"fresh_lite": (8, 16), "fresh_lite_input": "c3+warp"},
                           show_progress=False)
    assert trainer.model.fresh_top.sees_warp and trainer.fresh_warmup_iters() == 3000
    refs, frames = fresh_warmup.sample_pairs(train, 6, (1, 2), np.random.default_rng(0))
    assert len(refs) == len(frames) == 6 and any(not np.array_equal(r, f) for r, f in zip(refs, frames))
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.set_train_mode()
    first, last = fresh_warmup.warm_up_fresh_top(trainer.model, train, trainer.model_config.preprocess, iters=40,
                                                 batch_size=2, lr=3e-3, offset_range=(1, 2), seed=0,
                                                 autocast=trainer.autocast, prepare=trainer.to_device)
    assert math.isfinite(first) and last < first
    after = trainer.model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert {k for k in changed if "lateral" in k} and all(k.startswith("fresh_top.") for k in changed)
