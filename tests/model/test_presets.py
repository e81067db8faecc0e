"""Every preset builds, runs at 550x550 and gives the documented shapes."""
import pytest
import torch

from yolactedge import build_model
from yolactedge.config import get_config, list_presets

EXPECTED_KEYS = {  # from instantiating the original code (spec section 15.1)
    "yolact_edge_resnet50_config": (354, 31_218_116),
    "yolact_edge_config": (660, 50_262_519),
    "yolact_edge_mobilenetv2_config": (348, 9_062_979),
    "yolact_edge_youtubevis_config": (660, 49_975_639),
    "yolact_edge_vid_config": (697, 54_486_823),
    "yolact_edge_vid_resnet50_config": (391, 35_442_420),
    "yolact_edge_vid_minimal_config": (693, 52_127_015),
}


@pytest.mark.parametrize("name", sorted(EXPECTED_KEYS))
def test_state_dict_matches_original_layout(name):
    sd = build_model(name).state_dict()
    keys, elements = EXPECTED_KEYS[name]
    assert len(sd) == keys
    assert sum(v.numel() for v in sd.values()) == elements


@pytest.mark.parametrize("name", list_presets())
def test_forward_shapes_at_550(name):
    config = get_config(name)
    model = build_model(config).eval()
    x = torch.randn(1, 3, 550, 550)
    with torch.no_grad():
        out = model(x)
    p, c, k = 19248, config.num_classes, 32
    assert out.loc.shape == (1, p, 4)
    assert out.conf.shape == (1, p, c)
    assert torch.allclose(out.conf.sum(-1), torch.ones(1, p), atol=1e-5)
    assert out.mask.shape == (1, p, k) and out.mask.abs().max() <= 1
    assert out.priors.shape == (p, 4)
    assert out.proto.shape == (1, 138, 138, k)
    assert (out.state is not None) == config.is_video
    if config.is_video:
        again = model(torch.randn(1, 3, 550, 550), keyframe_state=out.state)
        assert again.loc.shape == out.loc.shape and again.proto.shape == out.proto.shape


def test_non_square_input_sizes():
    config = get_config("yolact_edge_mobilenetv2_config", preprocess={"input_size": (384, 640)})
    model = build_model(config).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 384, 640))
    assert out.proto.shape == (2, 96, 160, 32)
    assert out.loc.shape[1] == out.priors.shape[0]
    # Square anchors stay square in pixels on a non-square input.
    w_px = out.priors[:, 2] * 640
    h_px = out.priors[:, 3] * 384
    assert torch.allclose(w_px, h_px, rtol=1e-5)


def test_unknown_preset_is_a_clear_error():
    with pytest.raises(KeyError, match="yolact_edge_resnet50_config"):
        get_config("yolact_edge_resnet5")
