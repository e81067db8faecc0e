"""benchmarks/fresh_estimate.py: an exact fresh top scores 0, a random one does not, and a top that
corrects the warp starts exactly at the warp's own score."""
import pytest
import torch

from benchmark_scripts import load_benchmark
from vt_helpers import tiny_arch
from yolactedge.model import build_model


def test_pairs_and_estimate_loss(video_root):
    script = load_benchmark("fresh_estimate")
    pairs = script.pick_pairs(script.open_videos(video_root), count=5, stride=4, distance=2)
    assert len(pairs) == 5 and pairs[0][0].ndim == 3  # 3 frames (2, 6, 10) of 11 per video
    assert not (pairs[0][0] == pairs[0][1]).all()
    config = tiny_arch(video=True)
    torch.manual_seed(0)
    exact = build_model(config.replace(flow={"fresh_blocks": (2, 2)})).eval()  # whole stages: exact M4/M5
    lats = exact.fpn_phase_1.lat_layers
    exact.fresh_top.copy_from(exact.backbone, lats[0], lats[1])
    loss, warped = script.estimate_loss(exact, pairs, config.preprocess, batch=2)
    assert loss == pytest.approx(0, abs=1e-5) and warped > 1e-3
    lite = build_model(config.replace(flow={"fresh_lite": (8, 16), "fresh_lite_input": "c3"})).eval()
    assert script.estimate_loss(lite, pairs, config.preprocess)[0] > 0.05
    corrects = build_model(config.replace(flow={"fresh_lite": (8, 16), "fresh_lite_input": "c3+warp"})).eval()
    loss, warped = script.estimate_loss(corrects, pairs, config.preprocess)
    assert loss == pytest.approx(warped, abs=1e-6) and warped > 1e-3  # a new corrector is the warp itself
    with pytest.raises(ValueError, match="no fresh top"):
        script.estimate_loss(build_model(config).eval(), pairs, config.preprocess)
