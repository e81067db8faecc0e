"""Fresh top levels (ours): the shallow current-frame pass is the backbone's own stages, gated into the
warped M5 (and M4)."""
import pytest
import torch

from yolactedge import build_model
from yolactedge.config import get_config

SIZE = 96
OUTPUTS = ("loc", "conf", "mask", "proto")


def _config(blocks=(1, 1), levels="P5"):
    scales = tuple((round(s * SIZE / 550, 2),) for s in (24, 48, 96, 192, 384))
    return get_config("yolact_edge_vid_resnet50_config", backbone={"name": "resnet18", "width_mult": 0.25},
                      fpn={"num_features": 32}, proto={"channels": 16}, preprocess={"input_size": (SIZE, SIZE)},
                      anchors={"scales": scales}, class_names=("a", "b"),
                      flow={"reduce_channels": 16, "encode_channels": 16, "fresh_blocks": blocks,
                            "fresh_levels": levels})


def _model(blocks=(1, 1), levels="P5", seed=0):
    torch.manual_seed(seed)
    model = build_model(_config(blocks, levels)).eval()
    lats = model.fpn_phase_1.lat_layers
    model.fresh_top.copy_from(model.backbone, lats[0], lats[1])
    return model


def _set_gates(model, bias):
    for gate in (getattr(model.fresh_top, name, None) for name in ("gate4", "gate5")):
        if gate is not None:
            torch.nn.init.zeros_(gate.weight)
            torch.nn.init.constant_(gate.bias, bias)


def test_whole_stages_with_open_gates_turn_a_non_keyframe_into_a_keyframe():
    """Both deep stages whole (ResNet-18: 2 blocks each), P4 and P5 refreshed, gates open, SPA at its
    identity init: the non-keyframe computes exactly the current frame's keyframe outputs, whatever
    the keyframe was."""
    model = _model((2, 2), "P4P5")
    _set_gates(model, 40.0)
    key, current = torch.randn(2, 1, 3, SIZE, SIZE)
    with torch.no_grad():
        ref = model(current)
        out = model(current, keyframe_state=model(key).state)
        (_, true_m4, true_m5), lateral = model.keyframe_features(current)
        aux = {}
        model.partial_feature_transform(lateral, model(key).state, c3=model.backbone.forward_partial(current), aux=aux)
    for name in OUTPUTS:
        torch.testing.assert_close(getattr(out, name), getattr(ref, name), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(aux["fresh_m5"], true_m5, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(aux["fresh_m4"], true_m4, rtol=1e-5, atol=1e-5)


def test_closed_gates_are_the_original_scheme():
    torch.manual_seed(0)
    original = build_model(_config((0, 0))).eval()
    fresh = _model((1, 1), "P4P5")
    missing, unexpected = fresh.load_state_dict(original.state_dict(), strict=False)
    assert not unexpected and missing and all(k.startswith("fresh_top.") for k in missing)
    _set_gates(fresh, -40.0)
    key, current = torch.randn(2, 1, 3, SIZE, SIZE)
    with torch.no_grad():
        ref = original(current, keyframe_state=original(key).state)
        out = fresh(current, keyframe_state=fresh(key).state)
    for name in OUTPUTS:
        torch.testing.assert_close(getattr(out, name), getattr(ref, name), rtol=0, atol=1e-6)


def test_a_new_module_starts_mostly_warped_and_its_blocks_keep_frozen_statistics():
    model = _model()
    assert torch.sigmoid(model.fresh_top.gate5.bias).max() < 0.2 and not hasattr(model.fresh_top, "gate4")
    model.train()
    blocks = [*model.fresh_top.c4_blocks.modules(), *model.fresh_top.c5_blocks.modules()]
    assert model.fresh_top.gate5.training and not any(m.training for m in blocks)
    first = model.backbone.layers[model.backbone.selected_layers[1]][0]
    torch.testing.assert_close(model.fresh_top.c4_blocks[0].conv1.weight, first.conv1.weight, rtol=0, atol=0)


def test_bad_settings_and_a_missing_c3_are_clear_errors():
    for bad in ((1, 0), (-1, 1), (1, 2, 3)):
        with pytest.raises(ValueError, match="fresh_blocks"):
            _config(bad)
    with pytest.raises(ValueError, match="fresh_levels"):
        _config((1, 1), "P3")
    with pytest.raises(ValueError, match="has 2"):
        build_model(_config((3, 1)))
    mobilenet = get_config("yolact_edge_vid_resnet50_config", backbone={"name": "mobilenetv2", "selected_layers": (3, 4, 6)},
                           flow={"fresh_blocks": (1, 1)})
    with pytest.raises(ValueError, match="directly follow C3"):
        build_model(mobilenet)
    model = _model()
    with torch.no_grad():
        state = model(torch.randn(1, 3, SIZE, SIZE)).state
        with pytest.raises(ValueError, match="pass its C3"):
            model.partial_feature_transform(state.lateral, state)
