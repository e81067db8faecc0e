"""SPA: the original's one-conv refinement keeps its names; deeper variants start as the identity
and still learn."""
import pytest
import torch

from yolactedge import build_model
from yolactedge.config import get_config
from yolactedge.model.flow import SPA


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
