"""benchmarks/video_level_oracle.py: the swapped levels are the current frame's, the rest untouched."""
import pytest
import torch

from yolactedge.config import get_config
from yolactedge.config.schema import FlowConfig
from yolactedge.model import build_model
from benchmark_scripts import load_benchmark


def load_script():
    return load_benchmark("video_level_oracle")


@pytest.mark.parametrize("swap", ["normal", "p4", "p5", "p4p5", "m3"])
def test_swapped_levels_are_the_current_frames(swap):
    script = load_script()
    torch.manual_seed(0)
    model = build_model(get_config("yolact_edge_demo_config").replace(flow=FlowConfig())).eval()
    key, cur = torch.randn(1, 3, 128, 128), torch.randn(1, 3, 128, 128)
    seen = {}
    with torch.no_grad():
        state = model(key).state
        fresh, _ = model.keyframe_features(cur)
        warped = model.partial_feature_transform(model.fpn_phase_1.lateral_c3(model.backbone.forward_partial(cur)),
                                                 state)
        oracle = script.LevelOracle(model, script.SWAPS[swap])
        transform = model.partial_feature_transform
        model.partial_feature_transform = lambda *a, **k: seen.setdefault("feats", transform(*a, **k))
        model(cur, keyframe_state=state)
        oracle.restore()
    assert not hasattr(model, "__dict__") or "forward" not in model.__dict__  # patches removed
    for i, feat in enumerate(seen["feats"]):
        expected = fresh[i] if i in script.SWAPS[swap] else warped[i]
        torch.testing.assert_close(feat, expected)


def test_missing_annotations_is_a_clear_error(tmp_path):
    with pytest.raises(SystemExit, match="not found"):
        load_script().main(["--model", "x.pt", "--data", str(tmp_path)])


def test_warped_c4_candidate_at_zero_motion_is_the_keyframes_m5():
    """With the keyframe as the current frame and zero flow, lat5(layer4(warp(C4))) is the keyframe's M5."""
    script = load_script()
    torch.manual_seed(0)
    model = build_model(get_config("yolact_edge_demo_config").replace(flow=FlowConfig())).eval()
    x = torch.randn(1, 3, 128, 128)
    with torch.no_grad():
        oracle = script.LevelOracle(model, script.SWAPS["c4_p4p5"], from_warped_c4=True)
        state = model(x).state
        lateral = model.fpn_phase_1.lateral_c3(model.backbone.forward_partial(x))
        flows = [(torch.zeros_like(f), s, b) for f, s, b in model.estimate_flow(lateral, state)]
        feats = model.partial_feature_transform(lateral, state, flows)
        oracle.restore()
    torch.testing.assert_close(feats[2], state.feats[2], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(feats[1], state.feats[1], atol=1e-5, rtol=1e-5)
