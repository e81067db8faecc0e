"""The small fixed-width fresh top (ours): same interface as the block copies, trained from scratch."""
import pytest
import torch

from yolactedge import build_model
from yolactedge.config import get_config
from yolactedge.model.fresh_lite import FreshLite

SIZE = 96
OUTPUTS = ("loc", "conf", "mask", "proto")


def _config(lite=(8, 16), levels="P4P5", blocks=(0, 0)):
    scales = tuple((round(s * SIZE / 550, 2),) for s in (24, 48, 96, 192, 384))
    return get_config("yolact_edge_vid_resnet50_config", backbone={"name": "resnet18", "width_mult": 0.25},
                      fpn={"num_features": 32}, proto={"channels": 16}, preprocess={"input_size": (SIZE, SIZE)},
                      anchors={"scales": scales}, class_names=("a", "b"),
                      flow={"reduce_channels": 16, "encode_channels": 16, "fresh_lite": lite, "fresh_blocks": blocks,
                            "fresh_levels": levels})


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
    assert _config().flow.has_fresh_top and not _config((0, 0)).flow.has_fresh_top
