"""SPA: the original's one-conv refinement keeps its names; deeper variants start as the identity
and still learn."""
import pytest
import torch

from yolactedge import build_model
from yolactedge.config import get_config
from yolactedge.config.schema import FlowConfig
from yolactedge.model.flow import SPA
from yolactedge.model.fpn import resize_bilinear
from yolactedge.model.video import warp_with_scale


def test_depth_one_has_the_original_state_dict():
    spa = SPA(16)
    shapes = {k: tuple(v.shape) for k, v in spa.state_dict().items()}
    assert shapes == {f"refine_convs.{i}.0.{p}": s for i in (0, 1)
                      for p, s in (("weight", (16, 32, 3, 3)), ("bias", (16,)))}


@pytest.mark.parametrize("depth", [1, 3])
def test_starts_as_identity(depth):
    spa = SPA(8, depth)
    lateral, w4, w5 = torch.randn(1, 8, 16, 16), torch.randn(1, 8, 8, 8), torch.randn(1, 8, 4, 4)
    r4, r5 = spa(lateral, w4, w5)
    torch.testing.assert_close(r4, w4, rtol=0, atol=0)
    torch.testing.assert_close(r5, w5, rtol=0, atol=0)


def test_deeper_spa_learns_in_every_layer():
    """Only the last layer starts at zero, so after one step every layer gets a gradient (a stack of
    zeros would stay dead)."""
    torch.manual_seed(0)
    spa = SPA(8, 3)
    convs = [m for m in spa.refine_convs[0] if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 3 and tuple(convs[0].weight.shape) == (8, 16, 3, 3)
    opt = torch.optim.SGD(spa.parameters(), lr=0.1)
    lateral, w4, w5 = torch.randn(2, 8, 16, 16), torch.randn(2, 8, 8, 8), torch.randn(2, 8, 4, 4)
    target = torch.randn(2, 8, 8, 8)
    for _ in range(2):
        opt.zero_grad()
        r4, _ = spa(lateral, w4, w5)
        ((r4 - target) ** 2).mean().backward()
        grads = [c.weight.grad.abs().sum().item() for c in convs]
        opt.step()
    assert all(g > 0 for g in grads), grads


def test_depth_is_validated_and_reaches_the_model():
    with pytest.raises(ValueError, match="depth"):
        SPA(8, 0)
    cfg = get_config("yolact_edge_vid_resnet50_config")
    assert cfg.flow.spa_depth == 1  # the presets are the original's
    deep = build_model(cfg.replace(flow={"spa_depth": 2}))
    keys = [k for k in deep.state_dict() if k.startswith("spa.")]
    assert "spa.refine_convs.0.2.weight" in keys and len(keys) == 8


def _video_model(**flow):
    cfg = get_config("yolact_edge_demo_config")
    cfg = cfg.replace(flow=FlowConfig(**flow))
    return build_model(cfg).eval()


@pytest.mark.parametrize("p3_from_spa", [False, True])
def test_m3_is_rebuilt_from_the_raw_or_the_refined_w4(p3_from_spa):
    """The original rebuilds M3 from the raw warped W4; ``p3_from_spa`` from the SPA-refined one."""
    torch.manual_seed(0)
    model = _video_model(spa_depth=2, p3_from_spa=p3_from_spa)
    for conv in model.spa.modules():  # a non-identity SPA, so the two orders differ
        if isinstance(conv, torch.nn.Conv2d):
            torch.nn.init.normal_(conv.weight, std=0.05)
    key, cur = torch.randn(1, 3, 128, 128), torch.randn(1, 3, 128, 128)
    with torch.no_grad():
        state = model(key).state
        lateral = model.fpn_phase_1.lateral_c3(model.backbone.forward_partial(cur))
        flows = model.estimate_flow(lateral, state)
        m3, w4, w5 = model.partial_feature_transform(lateral, state, flows)
        (f4, s4, b4), (f5, s5, b5) = flows
        raw4 = warp_with_scale(state.feats[1], f4, s4, b4)
        raw5 = warp_with_scale(state.feats[2], f5, s5, b5)
        ref4, ref5 = model.spa(lateral, raw4, raw5)
    torch.testing.assert_close(w4, ref4)
    torch.testing.assert_close(w5, ref5)
    source = ref4 if p3_from_spa else raw4
    torch.testing.assert_close(m3, resize_bilinear(source, lateral.shape[-2:]) + lateral)
    assert (ref4 - raw4).abs().max() > 1e-3  # the test can tell the two apart


def test_p3_from_spa_needs_spa():
    with pytest.raises(ValueError, match="use_spa"):
        FlowConfig(use_spa=False, p3_from_spa=True)
    assert not get_config("yolact_edge_vid_config").flow.p3_from_spa  # the presets are the original's
