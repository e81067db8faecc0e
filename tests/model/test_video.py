"""The non-keyframe path: warping operator, Partial Feature Transform, prototype reuse."""
import pytest
import torch

from yolactedge import build_model
from yolactedge.model.outputs import KeyframeState
from yolactedge.model.warp import image_flow_to_training_units, pixels_to_flow_units, warp


def test_zero_flow_is_identity():
    x = torch.randn(2, 5, 9, 13)
    torch.testing.assert_close(warp(x, torch.zeros(2, 2, 9, 13)), x, atol=1e-5, rtol=0)


def test_integer_shift_moves_features_by_that_shift():
    x = torch.randn(1, 3, 18, 18)
    shift = torch.zeros(1, 2, 18, 18)
    shift[:, 0] = 2.0  # 2 px to the right in the source -> output(p) = x(p + 2)
    shift[:, 1] = -1.0
    out = warp(x, pixels_to_flow_units(shift))
    torch.testing.assert_close(out[..., 1:, :16], x[..., :17, 2:], atol=1e-5, rtol=0)
    assert out[..., :, 16:].abs().max() < 1e-6  # sampled outside -> zeros
    # One flow unit is (w-1)/16 pixels, as the original's sampler.
    assert torch.allclose(pixels_to_flow_units(torch.full((1, 2, 18, 18), 17 / 16)), torch.ones(1, 2, 18, 18))


def test_training_units_follow_the_original_normalisation():
    flow = torch.ones(1, 2, 4, 4)
    units = image_flow_to_training_units(flow, (550, 550))
    assert torch.allclose(units, torch.full_like(units, 16 / 550))


def _zero_flow_state_model(preset: str = "yolact_edge_vid_minimal_resnet50_config"):
    model = build_model(preset).eval()
    flow_net = model.flow_net
    for pred in (flow_net.pred2, flow_net.pred3):  # flow 0, scale 1, bias 0
        torch.nn.init.zeros_(pred.conv.weight)
        torch.nn.init.zeros_(pred.scale.weight)
        torch.nn.init.ones_(pred.scale.bias)
        torch.nn.init.zeros_(pred.bias.weight)
        torch.nn.init.zeros_(pred.bias.bias)
    return model


@pytest.mark.parametrize("preset", ["yolact_edge_vid_minimal_resnet50_config", "yolact_edge_vid_resnet50_config"])
def test_partial_feature_transform_with_identity_flow_reproduces_the_keyframe(preset):
    """Zero flow, unit scale, zero bias and the same frame: P4/P5 equal the keyframe's and P3 is
    rebuilt exactly as phase-1 FPN does, so the outputs equal the keyframe's. With SPA too: an
    untrained SPA must not perturb the warped features (it is trained in stage 3 only)."""
    model = _zero_flow_state_model(preset)
    assert (getattr(model, "spa", None) is not None) == ("minimal" not in preset)
    x = torch.randn(1, 3, 160, 160)
    with torch.no_grad():
        key = model(x)
        non_key = model(x, keyframe_state=key.state)
    for name in ("loc", "conf", "mask", "proto"):
        torch.testing.assert_close(getattr(non_key, name), getattr(key, name), atol=1e-4, rtol=1e-4)


def test_keyframe_state_carries_cached_preconv_and_prototypes():
    model = build_model("yolact_edge_vid_resnet50_config").eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 160, 160))
    state = out.state
    assert isinstance(state, KeyframeState)
    assert state.flow_features.shape[1] == 64 and state.proto.shape == out.proto.shape
    with torch.no_grad():
        reused = model(torch.randn(1, 3, 160, 160), keyframe_state=state, reuse_prototypes=True)
    assert reused.proto.shape == out.proto.shape


def test_image_model_rejects_keyframe_state():
    model = build_model("yolact_edge_mobilenetv2_config").eval()
    vid = build_model("yolact_edge_vid_minimal_resnet50_config").eval()
    with torch.no_grad():
        state = vid(torch.randn(1, 3, 96, 96)).state
    try:
        model(torch.randn(1, 3, 96, 96), keyframe_state=state)
    except ValueError as err:
        assert "not a video preset" in str(err)
    else:
        raise AssertionError("expected a clear error")


def test_head_reuse_skips_unchanged_levels_only():
    model = _zero_flow_state_model()
    x = torch.randn(1, 3, 160, 160)
    with torch.no_grad():
        key = model(x)
        plain = model(x, keyframe_state=key.state)
        reused = model(x, keyframe_state=key.state, reuse_heads=0.05)  # same frame: P4..P7 unchanged
        forced = model(torch.randn(1, 3, 160, 160), keyframe_state=key.state, reuse_heads=-1.0)  # never reuse
        fresh = model(forced_input := torch.randn(1, 3, 160, 160), keyframe_state=key.state)
    torch.testing.assert_close(reused.conf, plain.conf, atol=1e-4, rtol=1e-4)
    assert key.state.head_outputs is not None and len(key.state.head_outputs) == 5
    calls = []
    hook = model.prediction_layers[0].register_forward_hook(lambda *a: calls.append(1))
    with torch.no_grad():
        model(x, keyframe_state=key.state, reuse_heads=0.05)
    hook.remove()
    assert len(calls) == 1  # only P3 recomputed
    with torch.no_grad():
        again = model(forced_input, keyframe_state=key.state, reuse_heads=-1.0)
    torch.testing.assert_close(again.loc, fresh.loc)
