"""The inference copy (BatchNorm folded, channels_last) gives the loaded model's outputs."""
import pytest
import torch
from torch import nn

from yolactedge import build_model
from yolactedge.config import get_config
from yolactedge.deploy.engine import PyTorchEngine
from yolactedge.model.inference_copy import fold_batchnorm, inference_copy

FIELDS = ("loc", "conf", "mask", "proto")


def _with_batchnorm_statistics(preset: str) -> nn.Module:
    """A model whose BatchNorms are far from identity, so an unfolded or wrongly folded one shows."""
    torch.manual_seed(0)
    model = build_model(preset).eval()
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            nn.init.uniform_(module.weight, 0.5, 1.5)
            nn.init.uniform_(module.bias, -0.2, 0.2)
    return model


def _close(a, b):
    for name in FIELDS:
        torch.testing.assert_close(getattr(a, name), getattr(b, name), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("channels_last", [True, False])
def test_copy_matches_the_loaded_model_on_keyframes_and_non_keyframes(channels_last):
    model = _with_batchnorm_statistics("yolact_edge_vid_resnet50_config")
    keys_before = list(model.state_dict())
    fast = inference_copy(model, channels_last=channels_last)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fast.modules())
    assert list(model.state_dict()) == keys_before  # the loaded model keeps its original names
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    key_x, cur_x = torch.randn(1, 3, 160, 160), torch.randn(1, 3, 160, 160)
    with torch.inference_mode():
        key, fast_key = model(key_x), fast(key_x.contiguous(memory_format=fmt))
        _close(fast_key, key)
        for options in ({}, {"reuse_prototypes": True}, {"reuse_prototypes": True, "reuse_heads": float("inf")}):
            _close(fast(cur_x.contiguous(memory_format=fmt), keyframe_state=fast_key.state, **options),
                   model(cur_x, keyframe_state=key.state, **options))


def test_sequential_batchnorms_of_mobilenetv2_are_folded():
    model = _with_batchnorm_statistics("yolact_edge_mobilenetv2_config")
    copy = inference_copy(model, channels_last=False)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) > 30
    assert not any(isinstance(m, nn.BatchNorm2d) for m in copy.modules())
    x = torch.randn(1, 3, 128, 128)
    with torch.inference_mode():
        _close(copy(x), model(x))


def test_folding_needs_eval_mode():
    with pytest.raises(ValueError, match="eval mode"):
        fold_batchnorm(build_model("yolact_edge_resnet50_config").train())


def test_engine_follows_weight_changes_and_hooks_of_the_loaded_model():
    config = get_config("yolact_edge_vid_minimal_resnet50_config", preprocess={"input_size": (96, 96)})
    model = build_model(config)
    engine = PyTorchEngine(model, config, torch.device("cpu"))
    plain = PyTorchEngine(model, config, torch.device("cpu"), optimize=False)
    x = torch.randn(1, 3, 96, 96)
    before = engine.infer(x)
    _close(before, plain.infer(x))
    new_weights = {k: v + 0.01 * torch.randn_like(v) if v.is_floating_point() else v
                   for k, v in build_model(config).state_dict().items()}
    model.load_state_dict(new_weights)
    after = engine.infer(x)
    _close(after, plain.infer(x))
    assert not torch.allclose(after.conf, before.conf)
    calls = []
    handle = model.proto_net.register_forward_hook(lambda *_: calls.append(1))
    engine.infer(x)
    assert calls == [1]  # the copy was rebuilt with the hook
    handle.remove()
    engine.infer(x)
    assert calls == [1]
