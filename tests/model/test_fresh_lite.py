"""The small fixed-width fresh top (ours): same interface as the block copies, trained from scratch."""
import pytest
import torch

from yolactedge import build_model
from yolactedge.config import get_config
from yolactedge.model.fresh_lite import FreshLite

SIZE = 96
OUTPUTS = ("loc", "conf", "mask", "proto")


def _config(lite=(8, 16), levels="P4P5", blocks=(0, 0), lite_input="c3"):
    scales = tuple((round(s * SIZE / 550, 2),) for s in (24, 48, 96, 192, 384))
    return get_config("yolact_edge_vid_resnet50_config", backbone={"name": "resnet18", "width_mult": 0.25},
                      fpn={"num_features": 32}, proto={"channels": 16}, preprocess={"input_size": (SIZE, SIZE)},
                      anchors={"scales": scales}, class_names=("a", "b"),
                      flow={"reduce_channels": 16, "encode_channels": 16, "fresh_lite": lite, "fresh_blocks": blocks,
                            "fresh_levels": levels, "fresh_lite_input": lite_input})


def _set_gates(model, bias):
    for gate in (getattr(model.fresh_top, name, None) for name in ("gate4", "gate5")):
        if gate is not None:
            torch.nn.init.zeros_(gate[-1].weight)
            torch.nn.init.constant_(gate[-1].bias, bias)


@pytest.mark.parametrize("levels", ["P5", "P4P5"])
def test_estimates_have_the_fpn_shapes_and_open_gates_replace_the_warped_levels(levels):
    torch.manual_seed(0)
    model = build_model(_config(levels=levels)).eval()
    assert isinstance(model.fresh_top, FreshLite) and model.fresh_top.widths == (8, 16)
    _set_gates(model, 40.0)
    key, current = torch.randn(2, 1, 3, SIZE, SIZE)
    with torch.no_grad():
        state = model(key).state
        (_, true_m4, true_m5), lateral = model.keyframe_features(current)
        c3 = model.backbone.forward_partial(current)
        aux = {}
        _, w4, w5 = model.partial_feature_transform(lateral, state, c3=c3, aux=aux)
        model.spa = None  # the refreshed levels themselves, before SPA
        _, r4, r5 = model.partial_feature_transform(lateral, state, c3=c3)
    assert aux["fresh_m5"].shape == true_m5.shape
    torch.testing.assert_close(r5, aux["fresh_m5"], rtol=1e-5, atol=1e-5)
    if levels == "P4P5":
        assert aux["fresh_m4"].shape == true_m4.shape
        torch.testing.assert_close(r4, aux["fresh_m4"], rtol=1e-5, atol=1e-5)
    else:
        assert "fresh_m4" not in aux and not hasattr(model.fresh_top, "gate4")


def test_closed_gates_are_the_original_scheme_and_a_new_module_starts_mostly_closed():
    torch.manual_seed(0)
    original = build_model(_config((0, 0))).eval()
    lite = build_model(_config()).eval()
    for gate in (lite.fresh_top.gate4, lite.fresh_top.gate5):
        assert torch.sigmoid(gate[-1].bias).max() < 0.2
    missing, unexpected = lite.load_state_dict(original.state_dict(), strict=False)
    assert not unexpected and missing and all(k.startswith("fresh_top.") for k in missing)
    _set_gates(lite, -40.0)
    key, current = torch.randn(2, 1, 3, SIZE, SIZE)
    with torch.no_grad():
        ref = original(current, keyframe_state=original(key).state)
        out = lite(current, keyframe_state=lite(key).state)
    for name in OUTPUTS:
        torch.testing.assert_close(getattr(out, name), getattr(ref, name), rtol=0, atol=1e-6)


def test_the_lite_top_costs_the_same_on_every_backbone():
    """Its parameters depend on the backbone only through C3's width (the first convs)."""
    counts = {}
    for backbone in ("resnet50", "resnet101"):
        cfg = get_config("yolact_edge_vid_config", backbone={"name": backbone}, flow={"fresh_lite": (16, 32)})
        counts[backbone] = sum(p.numel() for p in build_model(cfg).fresh_top.parameters())
    assert counts["resnet50"] == counts["resnet101"]


def test_bad_settings_are_clear_errors():
    for bad in ((8, 0), (-1, 8), (8, 8, 8)):
        with pytest.raises(ValueError, match="fresh_lite"):
            _config(bad)
    with pytest.raises(ValueError, match="set one of them"):
        _config((8, 16), blocks=(1, 1))
    with pytest.raises(ValueError, match="fresh_levels"):
        _config(levels="P3")
    with pytest.raises(ValueError, match="fresh_lite_input"):
        _config(lite_input="warp")


def test_the_lite_top_corrects_the_warp_by_default_and_older_stored_configs_keep_reading_c3():
    """Configs stored before ``fresh_lite_input`` existed describe a top that read C3 only."""
    from yolactedge.config.schema import FlowConfig, ModelConfig

    assert FlowConfig(fresh_lite=(8, 16)).fresh_lite_input == "c3+warp"
    stored = _config().to_dict()
    assert stored["flow"]["fresh_lite_input"] == "c3"
    del stored["flow"]["fresh_lite_input"]
    assert ModelConfig.from_dict(stored).flow.fresh_lite_input == "c3"
    current = _config(lite_input="c3+warp")
    assert ModelConfig.from_dict(current.to_dict()) == current
    assert _config().flow.has_fresh_top and not _config((0, 0)).flow.has_fresh_top


def _pair_inputs(model):
    key, current = torch.randn(2, 1, 3, SIZE, SIZE)
    state = model(key).state
    (_, m4, m5), lateral, c3 = model.keyframe_features_and_c3(current)
    return state, lateral, c3


@pytest.mark.parametrize("levels", ["P5", "P4P5"])
def test_a_new_warp_corrector_is_the_original_scheme_even_with_open_gates(levels):
    """``fresh_lite_input="c3+warp"``: estimates are the warped levels plus corrections that start at 0."""
    torch.manual_seed(0)
    original = build_model(_config((0, 0), levels=levels)).eval()
    corrector = build_model(_config(levels=levels, lite_input="c3+warp")).eval()
    assert corrector.fresh_top.sees_warp and not build_model(_config()).fresh_top.sees_warp
    corrector.load_state_dict(original.state_dict(), strict=False)
    _set_gates(corrector, 40.0)
    key, current = torch.randn(2, 1, 3, SIZE, SIZE)
    with torch.no_grad():
        ref = original(current, keyframe_state=original(key).state)
        out = corrector(current, keyframe_state=corrector(key).state)
        state, lateral, c3 = _pair_inputs(corrector)
        w4, w5 = corrector.warp_top_levels(lateral, state)
        m4, m5 = corrector.fresh_top.estimate(c3, w4, w5)
    for name in OUTPUTS:
        torch.testing.assert_close(getattr(out, name), getattr(ref, name), rtol=0, atol=1e-6)
    assert torch.equal(m5, w5) and (m4 is None if levels == "P5" else torch.equal(m4, w4))


def test_a_trained_warp_corrector_reads_both_levels_and_its_loss_leaves_the_flow_alone():
    torch.manual_seed(0)
    model = build_model(_config(lite_input="c3+warp")).eval()
    top = model.fresh_top
    for lateral in (top.lateral4, top.lateral5):
        torch.nn.init.normal_(lateral.weight, std=0.1)
    with torch.no_grad():
        state, lateral, c3 = _pair_inputs(model)
        w4, w5 = model.warp_top_levels(lateral, state)
        m4, m5 = top.estimate(c3, w4, w5)
        assert not torch.allclose(m5, w5) and not torch.allclose(m4, w4)
        m4_other_w5, _ = top.estimate(c3, w4, w5 + 1)
        assert not torch.allclose(m4_other_w5, m4)  # W5 reaches the stride-16 stream as well
    w4, w5 = w4.clone().requires_grad_(), w5.clone().requires_grad_()
    _, _, e4, e5 = top(c3, w4, w5)
    (e4.sum() + e5.sum()).backward()
    assert w4.grad is None and w5.grad is None
    with pytest.raises(ValueError, match="pass W4 and W5"):
        top.estimate(c3)


def test_prototype_reuse_keeps_the_fresh_top():
    """Reusing the keyframe's prototypes still refreshes the levels the heads see: skipping the fresh top
    there cost the corrector's model ~20 box AP on the benchmark (BENCHMARKS.md)."""
    torch.manual_seed(0)
    corrector = build_model(_config(lite_input="c3+warp")).eval()
    for lateral in (corrector.fresh_top.lateral4, corrector.fresh_top.lateral5):
        torch.nn.init.normal_(lateral.weight, std=0.1)
    _set_gates(corrector, 40.0)
    plain = build_model(_config((0, 0))).eval()
    plain.load_state_dict({k: v for k, v in corrector.state_dict().items() if not k.startswith("fresh_top.")})
    key, current = torch.randn(2, 1, 3, SIZE, SIZE)
    with torch.no_grad():
        state, plain_state = corrector(key).state, plain(key).state
        out = corrector(current, keyframe_state=state, reuse_prototypes=True)
        ref = plain(current, keyframe_state=plain_state, reuse_prototypes=True)
    torch.testing.assert_close(out.proto, ref.proto, rtol=0, atol=1e-6)  # the keyframe's, warped alike
    assert not torch.allclose(out.conf, ref.conf, atol=1e-4)
