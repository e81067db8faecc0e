"""Video evaluation per keyframe distance, and the train-video / val-video command lines."""
from __future__ import annotations

import argparse

import pytest
import torch

from vt_helpers import tiny_arch
from yolactedge.cli import train_video, val_video
from yolactedge.checkpoints import read_checkpoint
from yolactedge.eval.video_eval import evaluate_keyframes, evaluate_video
from yolactedge.model import build_model


@pytest.fixture(scope="module")
def video_model():
    torch.manual_seed(0)
    return build_model(tiny_arch())


def test_evaluate_video_reports_every_keyframe_distance(videos, video_model):
    _, val = videos  # 2 videos of 11 frames, annotated frames 0, 5, 10
    result = evaluate_video(video_model, val, keyframe_interval=5)
    assert set(result) == {0, 1, 2, 3, 4, "all"} and result.distances == [0, 1, 2, 3, 4]
    for metrics in result.values():
        assert set(metrics) == {"bbox", "segm"} and "AP" in metrics["segm"]
    assert result.num_videos == 2 and result.num_frames == 6
    assert result.clamped == 2 * 4  # frame 0 at distances 1..4 is its own keyframe
    # per video: keyframes 0, 5, 10 and 1..4, 6..9 (each once); non-keyframes 5 and 10 at d = 1..4
    assert result.timings["keyframe"].calls == 2 * 11
    assert result.timings["non-keyframe"].calls == 2 * 8
    assert result.timings["postprocess"].calls == 2 * 3 * 5
    assert result.timings["non-keyframe"].mean_ms > 0
    assert video_model.training  # modes restored


def test_all_keyframe_map_is_distance_zero(videos, video_model):
    _, val = videos
    keyframes = evaluate_keyframes(video_model, val, max_videos=1)
    assert set(keyframes) == {0, "all"}
    assert keyframes.timings["non-keyframe"].calls == 0
    options = evaluate_video(video_model, val, keyframe_interval=2, max_videos=1, reuse_prototypes=True,
                             reuse_heads=0.05)
    assert set(options) == {0, 1, "all"}
    assert options[0]["segm"]["AP"] == keyframes[0]["segm"]["AP"]
    tight = evaluate_keyframes(video_model, val, max_videos=1, box_from_mask=True)  # boxes change, masks not
    assert tight[0]["segm"] == keyframes[0]["segm"]


def test_image_models_need_keyframe_interval_one(videos):
    _, val = videos
    model = build_model(tiny_arch(video=False))
    with pytest.raises(ValueError, match="image model"):
        evaluate_video(model, val, keyframe_interval=5)
    assert set(evaluate_keyframes(model, val, max_videos=1)) == {0, "all"}


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    train_video.register(sub)
    val_video.register(sub)
    args = parser.parse_args(argv)
    return args.func(args)


def test_command_lines_run_the_three_steps(flow_root, video_root, stage1_checkpoint, tmp_path, capsys):
    common = ["--iters", "2", "--batch", "2", "--workers", "0", "--no-tensorboard", "--no-plot", "--lr", "1e-3"]
    assert _cli(["train-video", "--stage", "flow", "--data", str(flow_root), "--init", str(stage1_checkpoint),
                 "--out", str(tmp_path / "flow"), *common]) == 0
    flow = read_checkpoint(tmp_path / "flow" / "last.pt")
    assert flow.config.is_video and flow.train_state["stage"] == "flow"
    assert _cli(["train-video", "--stage", "joint", "--data", str(video_root), "--init",
                 str(tmp_path / "flow" / "last.pt"), "--out", str(tmp_path / "joint"), "--val-max", "1",
                 "--val-keyframe-interval", "2", "--distill-alpha", "0.5", "--spa-depth", "2", "--p3-from-spa",
                 "--fresh-blocks", "1", "1", *common]) == 0
    assert (tmp_path / "joint" / "best.pt").is_file()
    joint = read_checkpoint(tmp_path / "joint" / "last.pt")
    assert joint.train_state["train_config"]["distill_alpha"] == 0.5 and joint.config.flow.spa_depth == 2
    assert joint.config.flow.p3_from_spa
    assert joint.config.flow.fresh_blocks == (1, 1) and joint.config.flow.fresh_levels == "P4P5"
    assert "spa.refine_convs.0.2.weight" in joint.state_dict and "fresh_top.gate4.weight" in joint.state_dict
    # resume (data paths come from the checkpoint) and extend by one iteration
    assert _cli(["train-video", "--resume", str(tmp_path / "joint" / "last.pt"), "--iters", "3"]) == 0
    assert read_checkpoint(tmp_path / "joint" / "last.pt").train_state["iteration"] == 3
    capsys.readouterr()
    assert _cli(["val-video", "--model", str(tmp_path / "joint" / "last.pt"), "--data", str(video_root),
                 "--keyframe-interval", "3", "--max-videos", "1", "--json-out", str(tmp_path / "m.json"),
                 "--box-from-mask"]) == 0
    out = capsys.readouterr().out
    assert "distance" in out and "\nall " in out and "non-keyframe" in out
    assert (tmp_path / "m.json").is_file()


def test_fresh_lite_from_the_command_line(flow_root, video_root, stage1_checkpoint, tmp_path):
    common = ["--iters", "1", "--batch", "2", "--workers", "0", "--no-tensorboard", "--no-plot", "--lr", "1e-3"]
    assert _cli(["train-video", "--stage", "flow", "--data", str(flow_root), "--init", str(stage1_checkpoint),
                 "--out", str(tmp_path / "flow"), *common]) == 0
    joint_args = ["train-video", "--stage", "joint", "--data", str(video_root), "--init",
                  str(tmp_path / "flow" / "last.pt"), "--out", str(tmp_path / "joint"), "--val-max", "1", *common]
    with pytest.raises(SystemExit, match="two kinds of fresh top"):
        _cli([*joint_args, "--fresh-lite", "8", "16", "--fresh-blocks", "1", "1"])
    assert _cli([*joint_args, "--fresh-lite", "8", "16", "--fresh-levels", "P5", "--fresh-lr-mult", "5"]) == 0
    joint = read_checkpoint(tmp_path / "joint" / "last.pt")
    assert joint.config.flow.fresh_lite == (8, 16) and joint.config.flow.fresh_levels == "P5"
    assert joint.train_state["train_config"]["fresh_lr_mult"] == 5
    assert "fresh_top.gate5.2.weight" in joint.state_dict and "fresh_top.c4_blocks.0.conv1.weight" in joint.state_dict
    assert joint.config.flow.fresh_lite_input == "c3+warp" and "fresh_top.warp_in5.weight" in joint.state_dict
    with pytest.raises(SystemExit, match="needs --fresh-lite"):
        _cli([*joint_args, "--fresh-lite-input", "c3"])
    assert _cli([*joint_args, "--fresh-lite", "8", "16", "--fresh-lite-input", "c3", "--fresh-warmup", "2"]) == 0
    joint = read_checkpoint(tmp_path / "joint" / "last.pt")
    assert joint.config.flow.fresh_lite_input == "c3" and "fresh_top.warp_in5.weight" not in joint.state_dict
