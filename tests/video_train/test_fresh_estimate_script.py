"""benchmarks/fresh_estimate.py: an exact fresh top scores 0, a random one does not."""
import pytest
import torch

from benchmark_scripts import load_benchmark
from vt_helpers import tiny_arch
from yolactedge.model import build_model


def test_frames_and_estimate_loss(video_root):
    script = load_benchmark("fresh_estimate")
    frames = script.pick_frames(script.open_videos(video_root), count=5, stride=4)
    assert len(frames) == 5 and frames[0].ndim == 3  # 3 frames (0, 4, 8) of 11 per video
    config = tiny_arch(video=True)
    torch.manual_seed(0)
    exact = build_model(config.replace(flow={"fresh_blocks": (2, 2)})).eval()  # whole stages: exact M4/M5
    lats = exact.fpn_phase_1.lat_layers
    exact.fresh_top.copy_from(exact.backbone, lats[0], lats[1])
    assert script.estimate_loss(exact, frames, config.preprocess, batch=2) == pytest.approx(0, abs=1e-5)
    lite = build_model(config.replace(flow={"fresh_lite": (8, 16)})).eval()
    assert script.estimate_loss(lite, frames, config.preprocess) > 0.05
    with pytest.raises(ValueError, match="no fresh top"):
        script.estimate_loss(build_model(config).eval(), frames, config.preprocess)
