"""YolactLoss: hand-computed values for each term, crop/sub-sampling semantics, gradient flow."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from yolactedge.train.losses import (
    YolactLoss,
    box_loss,
    crop_masks,
    image_mask_loss,
    ohem_conf_loss,
    select_hard_negatives,
    semantic_target,
)
from yolactedge.train.targets import Targets

C, K_PROTO, HP = 4, 2, 16  # classes incl. background, prototypes, proto side
BOX = [0.25, 0.25, 0.5, 0.5]  # equals prior (0.375, 0.375, 0.25, 0.25): proto pixels 4..7
POS_PRIOR = 5  # index of that prior in grid_priors()


def grid_priors() -> torch.Tensor:
    """4x4 centres, sizes 0.25 then 0.5 (32 priors); only POS_PRIOR matches BOX with IoU >= 0.4."""
    c = torch.arange(4) * 0.25 + 0.125
    cy, cx = torch.meshgrid(c, c, indexing="ij")
    centres = torch.stack([cx.flatten(), cy.flatten()], 1)
    return torch.cat([torch.cat([centres, torch.full((16, 2), s)], 1) for s in (0.25, 0.5)])


def box_mask(box: list[float], size: int = 64) -> torch.Tensor:
    m = torch.zeros(size, size)
    x1, y1, x2, y2 = (round(v * size) for v in box)
    m[y1:y2, x1:x2] = 1
    return m


def one_object(label: int = 1) -> Targets:
    return Targets(torch.tensor([BOX]), torch.tensor([label]), box_mask(BOX)[None], 0)


def make_out(batch: int = 1, seed: int = 0, **fields: torch.Tensor) -> SimpleNamespace:
    gen = torch.Generator().manual_seed(seed)
    p = grid_priors().shape[0]
    out = SimpleNamespace(
        loc=torch.zeros(batch, p, 4),
        conf=torch.randn(batch, p, C, generator=gen),
        mask=torch.tanh(torch.randn(batch, p, K_PROTO, generator=gen)),
        priors=grid_priors(),
        proto=torch.relu(torch.randn(batch, HP, HP, K_PROTO, generator=gen)),
        segm=torch.randn(batch, C - 1, 8, 8, generator=gen),
    )
    for k, v in fields.items():
        setattr(out, k, v)
    return out


# ---------------------------------------------------------------- class (OHEM)


def ohem_case() -> tuple[torch.Tensor, torch.Tensor]:
    """1 positive, 1 neutral, 8 background; hardness set by the background logit alone."""
    conf_t = torch.tensor([[2, -1, 0, 0, 0, 0, 0, 0, 0, 0]])
    conf = torch.zeros(1, 10, 3)
    conf[0, :, 0] = torch.tensor([0.0, -10.0, 1.0, -1.0, 2.0, -3.0, 3.0, 0.5, -2.0, 4.0])
    return conf, conf_t


def test_ohem_mines_three_hardest_negatives_per_positive() -> None:
    conf, conf_t = ohem_case()
    neg = select_hard_negatives(conf, conf_t, 3)
    # Lowest background logits are hardest: priors 5 (-3), 8 (-2), 3 (-1); the neutral (-10) never.
    assert neg[0].nonzero().flatten().tolist() == [3, 5, 8]
    keep = torch.tensor([0, 3, 5, 8])
    expected = F.cross_entropy(conf[0, keep], conf_t[0, keep], reduction="sum")
    assert torch.allclose(ohem_conf_loss(conf, conf_t, 3), expected)


def test_ohem_is_per_image_and_capped() -> None:
    conf, conf_t = ohem_case()
    many_pos = torch.tensor([[1, 1, 1, 0, 0, 0, 0, 0, 0, -1]])  # wants 9, only 6 negatives exist
    neg = select_hard_negatives(torch.cat([conf, conf]), torch.cat([conf_t, many_pos]), 3)
    assert neg.sum(1).tolist() == [3, 6]
    assert not neg[1, :3].any() and not neg[1, 9]


# ---------------------------------------------------------------- box


def test_box_loss_hand_computed() -> None:
    loc = torch.zeros(1, 32, 4)
    loc[0, POS_PRIOR] = torch.tensor([0.5, 2.0, -0.2, 0.0])
    losses = YolactLoss(C)(make_out(loc=loc), [one_object()])
    # GT == prior, so the target is 0: 0.5*0.25 + (2-0.5) + 0.5*0.04 + 0 = 1.645; x1.5; N = 1.
    assert losses["box"].item() == pytest.approx(1.645 * 1.5, rel=1e-6)
    pos = torch.zeros(1, 32, dtype=torch.bool)
    pos[0, POS_PRIOR] = True
    assert box_loss(loc, torch.zeros_like(loc), pos).item() == pytest.approx(1.645, rel=1e-6)


# ---------------------------------------------------------------- mask


def perfect_proto() -> torch.Tensor:
    """Channel 0 = the downsampled GT mask, channel 1 = 1, so coef (2a, -a) gives logits +-a."""
    proto = torch.zeros(1, HP, HP, K_PROTO)
    proto[0, 4:8, 4:8, 0] = 1
    proto[..., 1] = 1
    return proto


def mask_coefs(a: float) -> torch.Tensor:
    mask = torch.zeros(1, 32, K_PROTO)
    mask[0, POS_PRIOR] = torch.tensor([2 * a, -a])
    return mask


def test_mask_loss_zero_when_prediction_matches_and_positive_otherwise() -> None:
    loss = YolactLoss(C)
    good = loss(make_out(proto=perfect_proto(), mask=mask_coefs(30.0)), [one_object()])["mask"]
    bad = loss(make_out(proto=perfect_proto(), mask=mask_coefs(-30.0)), [one_object()])["mask"]
    assert 0 <= good.item() < 1e-6
    assert bad.item() > 100


def test_mask_loss_normalisation_matches_hand_formula() -> None:
    out = make_out(seed=1)
    got = YolactLoss(C)(out, [one_object()])["mask"]
    pred = torch.sigmoid(out.proto[0] @ out.mask[0, POS_PRIOR])
    crop = torch.zeros(HP, HP)
    crop[3:9, 3:9] = 1  # box pixels 4..7 plus one pixel of padding each side
    target = torch.zeros(HP, HP)
    target[4:8, 4:8] = 1
    bce = F.binary_cross_entropy(pred * crop, target, reduction="sum")
    assert got.item() == pytest.approx((bce / (4 * 4) * 6.125).item(), rel=1e-5)


def test_mask_crop_ignores_prediction_outside_padded_box() -> None:
    loss = YolactLoss(C)
    base = make_out(seed=2)
    ref = loss(base, [one_object()])["mask"]
    outside = torch.ones(HP, HP, dtype=torch.bool)
    outside[3:9, 3:9] = False
    noisy = base.proto.clone()
    noisy[0][outside] += 5.0
    assert torch.equal(loss(make_out(seed=2, proto=noisy), [one_object()])["mask"], ref)
    padding_px = base.proto.clone()
    padding_px[0, 3, 3] += 5.0  # inside the 1-pixel padding: counts
    assert not torch.equal(loss(make_out(seed=2, proto=padding_px), [one_object()])["mask"], ref)


def test_crop_masks_bounds() -> None:
    kept = crop_masks(torch.ones(10, 10, 2), torch.tensor([[0.2, 0.0, 0.55, 0.3], [0.0, 0.0, 1.0, 1.0]]))
    # x: 2-1=1 <= x < 5.5+1=6.5 -> columns 1..6; y: max(0-1, 0)=0 <= y < 4 -> rows 0..3.
    assert kept[..., 0].nonzero()[:, 1].unique().tolist() == [1, 2, 3, 4, 5, 6]
    assert kept[..., 0].nonzero()[:, 0].unique().tolist() == [0, 1, 2, 3]
    assert kept[..., 1].sum() == 100


def test_mask_subsampling_scales_by_old_over_new_count() -> None:
    gen = torch.Generator().manual_seed(0)
    proto = torch.rand(HP, HP, K_PROTO, generator=gen)
    coef = torch.randn(5, K_PROTO, generator=gen)
    masks = (torch.rand(5, HP, HP, generator=gen) > 0.5).float()
    boxes = torch.tensor([[0.1, 0.1, 0.6, 0.7]]).repeat(5, 1) + torch.arange(5)[:, None] * 0.05
    got = image_mask_loss(proto, coef, masks, boxes, 2, torch.Generator().manual_seed(7))
    sel = torch.randperm(5, generator=torch.Generator().manual_seed(7))[:2]
    subset = image_mask_loss(proto, coef[sel], masks[sel], boxes[sel], 100)
    assert got.item() == pytest.approx(2.5 * subset.item(), rel=1e-6)
    again = image_mask_loss(proto, coef, masks, boxes, 2, torch.Generator().manual_seed(7))
    assert torch.equal(got, again)


# ---------------------------------------------------------------- semantic


def test_semantic_target_is_per_class_union() -> None:
    masks = torch.stack([box_mask(b, 16) for b in ([0, 0, 0.5, 0.5], [0.5, 0.5, 1, 1], [0.25, 0, 0.75, 1])])
    target = semantic_target(masks, torch.tensor([0, 0, 2]), 3, (8, 8))
    small = F.interpolate(masks[None], (8, 8), mode="bilinear", align_corners=False)[0] > 0.5
    assert target.shape == (3, 8, 8)
    assert torch.equal(target[0].bool(), small[0] | small[1])
    assert not target[1].any()
    assert torch.equal(target[2].bool(), small[2])


def test_semantic_loss_value_and_crowds_ignored() -> None:
    out = make_out(batch=2, seed=3)
    crowd_masks = torch.stack([box_mask(BOX), torch.ones(64, 64)])
    crowd = Targets(torch.tensor([BOX, [0.0, 0.0, 1.0, 1.0]]), torch.tensor([1, 0]), crowd_masks, 1)
    empty = Targets(torch.zeros(0, 4), torch.zeros(0, dtype=torch.int64), torch.zeros(0, 64, 64), 0)
    got = YolactLoss(C)(out, [crowd, empty])["semantic"]
    t0 = semantic_target(box_mask(BOX)[None], torch.tensor([1]), C - 1, (8, 8))
    expected = sum(
        F.binary_cross_entropy_with_logits(out.segm[b], t, reduction="sum") / 64
        for b, t in enumerate([t0, torch.zeros_like(t0)])
    ) / 2
    assert got.item() == pytest.approx(expected.item(), rel=1e-6)
    assert YolactLoss(C, use_semantic=False)(out, [crowd, empty])["semantic"].item() == 0


# ---------------------------------------------------------------- whole loss


def test_no_positives_in_batch_gives_finite_losses() -> None:
    empty = Targets(torch.zeros(0, 4), torch.zeros(0, dtype=torch.int64), torch.zeros(0, 64, 64), 0)
    losses = YolactLoss(C)(make_out(batch=2), [empty, empty])
    assert all(torch.isfinite(v) for v in losses.values())
    assert losses["box"].item() == 0 and losses["mask"].item() == 0
    assert losses["total"].item() == pytest.approx(losses["semantic"].item())


def test_total_decreases_under_sgd() -> None:
    torch.manual_seed(0)
    base = make_out(batch=2, seed=4)
    params = {
        "loc": torch.nn.Parameter(torch.randn(2, 32, 4) * 0.5),
        "conf": torch.nn.Parameter(base.conf.clone()),
        "mask_raw": torch.nn.Parameter(torch.randn(2, 32, K_PROTO)),
        "proto_raw": torch.nn.Parameter(torch.randn(2, HP, HP, K_PROTO)),
        "segm": torch.nn.Parameter(base.segm.clone()),
    }
    second_masks = torch.stack([box_mask([0.5, 0, 1, 0.5]), box_mask(BOX)])
    second = Targets(torch.tensor([[0.5, 0.0, 1.0, 0.5], BOX]), torch.tensor([2, 0]), second_masks, 0)
    loss_fn = YolactLoss(C)
    opt = torch.optim.SGD(params.values(), lr=0.05)
    totals = []
    for _ in range(6):
        out = SimpleNamespace(
            loc=params["loc"],
            conf=params["conf"],
            mask=torch.tanh(params["mask_raw"]),
            priors=grid_priors(),
            proto=torch.relu(params["proto_raw"]),
            segm=params["segm"],
        )
        total = loss_fn(out, [one_object(), second], generator=torch.Generator().manual_seed(0))["total"]
        opt.zero_grad()
        total.backward()
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in params.values())
        opt.step()
        totals.append(total.item())
    assert totals[-1] < totals[0]
