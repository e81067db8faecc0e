"""Losses F (flow EPE), W (feature matching) and D (output distillation), and the flow units given to the loss."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from yolactedge.config.schema import PreprocessConfig
from yolactedge.data.flo import write_flo
from yolactedge.data.flyingchairs import SPLIT_FILE, FlyingChairsDataset
from yolactedge.data.synth.writers import write_image
from yolactedge.model.outputs import YolactOutput
from yolactedge.model.warp import image_flow_to_training_units, pixels_to_flow_units, warp
from yolactedge.train.flow_trainer import FlowBatches
from yolactedge.train.video_losses import (end_point_error, feature_matching_loss, flow_loss, flow_targets,
                                           output_distillation_loss, training_units_to_pixels)


def test_epe_is_zero_for_a_perfect_prediction():
    target = torch.randn(2, 2, 12, 12)
    assert float(end_point_error(target.clone(), target)) == 0.0
    total, levels = flow_loss([target[..., :6, :6].clone()], target[..., :6, :6])
    assert float(total) == 0.0 and float(levels[0]) == 0.0


def test_epe_matches_a_hand_computation():
    pred = torch.zeros(1, 2, 1, 2)
    target = torch.tensor([[[[3.0, 0.0]], [[4.0, 1.0]]]])  # differences (3,4) -> 5 and (0,1) -> 1
    assert float(end_point_error(pred, target)) == pytest.approx(3.0)


def test_flow_loss_resizes_the_target_without_rescaling_values():
    """A constant field is the same constant at every level (units do not depend on resolution);
    the total is the sum of the per-level EPEs (weight 1 each, as the original)."""
    target = torch.zeros(1, 2, 96, 96)
    target[:, 0], target[:, 1] = 0.3, -0.4  # norm 0.5
    preds = [torch.zeros(1, 2, s, s) for s in (12, 6, 3)]
    total, levels = flow_loss(preds, target)
    assert [float(v) for v in levels] == pytest.approx([0.5, 0.5, 0.5])
    assert float(total) == pytest.approx(1.5)
    perfect = [torch.full((1, 2, s, s), 0.0) + target[:, :, :1, :1] for s in (12, 6, 3)]
    assert float(flow_loss(perfect, target)[0]) == pytest.approx(0.0, abs=1e-6)


def test_units_round_trip_to_pixels():
    flow = torch.randn(1, 2, 7, 9) * 5
    units = image_flow_to_training_units(flow, (7, 9))
    torch.testing.assert_close(training_units_to_pixels(units, (7, 9)), flow)
    # 1 px at a 550-wide image is 16/550 units, as the original's normalisation u*2/W*8
    assert float(image_flow_to_training_units(torch.ones(1, 2, 1, 1), (550, 550))[0, 0]) == pytest.approx(16 / 550)


def _smooth_image(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    channels = [127 + 60 * np.sin(xs / (3 + c) + c) * np.cos(ys / (4 + c)) + rng.normal(0, 5, (height, width))
                for c in range(3)]
    return np.clip(np.stack(channels, -1), 0, 255).astype(np.uint8)


def _translated_pair(root: Path, height: int, width: int, dx: int, dy: int) -> None:
    """img2(p + (dx, dy)) = img1(p): the FlyingChairs convention img1(p) ~ img2(p + flow(p))."""
    rng = np.random.default_rng(0)
    big = _smooth_image(rng, height + 2 * abs(dy), width + 2 * abs(dx))
    oy, ox = abs(dy), abs(dx)
    img1 = big[oy: oy + height, ox: ox + width]
    img2 = big[oy - dy: oy - dy + height, ox - dx: ox - dx + width]
    (root / "data").mkdir(parents=True)
    write_image(root / "data" / "00001_img1.ppm", np.ascontiguousarray(img1))
    write_image(root / "data" / "00001_img2.ppm", np.ascontiguousarray(img2))
    flow = np.zeros((height, width, 2), np.float32)
    flow[..., 0], flow[..., 1] = dx, dy
    write_flo(root / "data" / "00001_flow.flo", flow)
    (root / SPLIT_FILE).write_text("1\n")


@pytest.mark.parametrize("image_size", [(96, 96), (64, 80)])
def test_integer_translation_gives_the_training_units_of_its_pixels(tmp_path: Path, image_size):
    dx, dy = 3, -2
    _translated_pair(tmp_path, *image_size, dx, dy)
    pairs = FlyingChairsDataset(tmp_path)
    preprocess = PreprocessConfig(input_size=(96, 96))
    batch = FlowBatches(pairs, preprocess, batch_size=1, iters_per_epoch=1, max_iter=1)[0]
    h0, w0 = image_size
    # the translation in pixels of the network input (images are resized without keeping aspect)
    pixels = torch.zeros(1, 2, 96, 96)
    pixels[:, 0], pixels[:, 1] = dx * 96 / w0, dy * 96 / h0
    expected = image_flow_to_training_units(pixels, (96, 96))
    torch.testing.assert_close(batch.target, expected)
    torch.testing.assert_close(flow_targets(torch.from_numpy(pairs[0][2]).permute(2, 0, 1)[None], (96, 96)), expected)
    assert float(batch.target[0, 0, 0, 0]) == pytest.approx(dx * 16 / w0)  # units do not depend on resolution
    if image_size == (96, 96):
        # The orientation: warping img2 (source) with the flow reproduces img1 (target).
        warped = warp(batch.img2, pixels_to_flow_units(pixels))
        interior = (slice(None), slice(None), slice(4, -4), slice(4, -4))
        torch.testing.assert_close(warped[interior], batch.img1[interior], atol=1e-4, rtol=0)


def _pred_layers(channels: int = 8) -> nn.ModuleList:
    torch.manual_seed(0)
    return nn.ModuleList([nn.Conv2d(channels, channels, 3, padding=1) for _ in range(3)])


@pytest.mark.parametrize("loc", ["L", "P", "L+P"])
def test_feature_matching_is_zero_when_warped_equals_target(loc):
    layers = _pred_layers()
    m4 = torch.relu(torch.randn(2, 8, 6, 6))  # ReLU: pixels with all-zero channels occur
    m5 = torch.relu(torch.randn(2, 8, 3, 3))
    m4[:, :, 0, 0] = 0.0
    assert float(feature_matching_loss((m4, m5), (m4.clone(), m5.clone()), layers, loc)) == pytest.approx(0, abs=1e-6)
    other = feature_matching_loss((m4, m5), (m4.flip(-1), m5 + 1.0), layers, loc)
    assert float(other) > 1e-3


def test_feature_matching_gradients_reach_only_the_warped_features():
    layers = _pred_layers()
    m4, m5 = torch.randn(1, 8, 6, 6), torch.randn(1, 8, 3, 3)
    w4, w5 = torch.randn(1, 8, 6, 6, requires_grad=True), torch.randn(1, 8, 3, 3, requires_grad=True)
    feature_matching_loss((m4, m5), (w4, w5), layers).backward()
    assert w4.grad is not None and w5.grad is not None
    assert all(p.grad is None for p in layers.parameters())  # phase-2 weights are detached


def test_feature_matching_uses_the_p4_and_p5_convs():
    """Fix of the original's level-5 quirk: P-pairs use pred_layers[1] (P4) and [0] (P5), never [2] (P3)."""
    layers = _pred_layers()
    m4, m5 = torch.randn(1, 8, 6, 6), torch.randn(1, 8, 3, 3)
    w4, w5 = torch.randn(1, 8, 6, 6), torch.randn(1, 8, 3, 3)
    before = float(feature_matching_loss((m4, m5), (w4, w5), layers, "P"))
    with torch.no_grad():
        layers[2].weight.mul_(-3.0)
    assert float(feature_matching_loss((m4, m5), (w4, w5), layers, "P")) == pytest.approx(before)
    for index in (0, 1):
        with torch.no_grad():
            layers[index].weight.mul_(-3.0)
        changed = float(feature_matching_loss((m4, m5), (w4, w5), layers, "P"))
        assert changed != pytest.approx(before)
        before = changed


def _outputs(seed: int, anchors: int = 50, classes: int = 4, k: int = 6) -> YolactOutput:
    g = torch.Generator().manual_seed(seed)
    return YolactOutput(loc=torch.randn(2, anchors, 4, generator=g), conf=torch.randn(2, anchors, classes, generator=g),
                        mask=torch.randn(2, anchors, k, generator=g).tanh(), priors=torch.rand(anchors, 4, generator=g),
                        proto=torch.rand(2, 8, 8, k, generator=g))


def test_distillation_is_zero_for_equal_outputs_and_positive_otherwise():
    teacher = _outputs(0)
    assert float(output_distillation_loss(teacher, teacher)) == pytest.approx(0.0, abs=1e-6)
    assert float(output_distillation_loss(teacher, _outputs(1))) > 0.1
    with pytest.raises(ValueError, match="conf"):
        output_distillation_loss(teacher, _outputs(1, classes=5))


def test_distillation_gradients_reach_only_the_student_and_each_output():
    teacher, other = _outputs(0), _outputs(1)
    teacher = YolactOutput(*(t.requires_grad_() if isinstance(t, torch.Tensor) else t for t in teacher))
    student = YolactOutput(*(t.requires_grad_() if isinstance(t, torch.Tensor) else t for t in other))
    output_distillation_loss(teacher, student).backward()
    assert all(t.grad is None for t in (teacher.loc, teacher.conf, teacher.mask, teacher.proto))
    assert all(float(t.grad.abs().sum()) > 0 for t in (student.loc, student.conf, student.mask, student.proto))


def test_distillation_ignores_anchors_both_passes_call_background():
    """An anchor both passes give ~all probability to background carries ~no weight, so a large
    disagreement in its box or coefficients costs ~nothing."""
    teacher = _outputs(0, anchors=2)
    conf = torch.tensor([[[20.0, 0, 0, 0], [0, 5.0, 0, 0]]]).repeat(2, 1, 1)
    teacher = teacher._replace(conf=conf)
    moved_bg = teacher._replace(loc=teacher.loc.clone().index_add_(1, torch.tensor([0]), torch.full((2, 1, 4), 5.0)))
    moved_fg = teacher._replace(loc=teacher.loc.clone().index_add_(1, torch.tensor([1]), torch.full((2, 1, 4), 5.0)))
    assert float(output_distillation_loss(teacher, moved_bg)) < 1e-4
    assert float(output_distillation_loss(teacher, moved_fg)) > 1.0
