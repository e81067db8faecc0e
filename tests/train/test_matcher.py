"""Anchor matching: thresholds, forced matching, crowds, empty images, and a loop reference."""
from __future__ import annotations

import torch

from yolactedge.ops.boxes import encode, jaccard, point_form
from yolactedge.train.matcher import match
from yolactedge.train.targets import Targets

GT = torch.tensor([[0.1, 0.1, 0.5, 0.5]])  # side 0.4, centre 0.3


def shifted_prior(iou: float, side: float = 0.4, cx: float = 0.3, cy: float = 0.3) -> list[float]:
    """A prior the GT's size, shifted in x so its IoU with GT is ``iou``: (s-d)/(s+d) = iou."""
    d = side * (1 - iou) / (1 + iou)
    return [cx + d, cy, side, side]


def run(gt: torch.Tensor, priors: torch.Tensor, labels: torch.Tensor, crowds: int = 0):
    return match(0.5, 0.4, gt, priors, labels, crowds, 0.7)


def test_gt_equal_to_prior_is_positive_with_zero_offsets() -> None:
    priors = torch.tensor([[0.3, 0.3, 0.4, 0.4], [0.8, 0.8, 0.2, 0.2]])
    loc_t, conf_t, idx_t, boxes = run(GT, priors, torch.tensor([4]))
    assert conf_t.tolist() == [5, 0]
    assert conf_t.dtype == torch.int64 and idx_t.dtype == torch.int64
    assert torch.allclose(loc_t[0], torch.zeros(4), atol=1e-6)
    assert torch.allclose(boxes[0], GT[0])


def test_thresholds_positive_neutral_background() -> None:
    ious = [1.0, 0.55, 0.45, 0.41, 0.39, 0.2]
    priors = torch.tensor([shifted_prior(i) for i in ious])
    assert torch.allclose(jaccard(GT, point_form(priors))[0], torch.tensor(ious), atol=1e-5)
    _, conf_t, _, _ = run(GT, priors, torch.tensor([0]))
    assert conf_t.tolist() == [1, 1, -1, -1, 0, 0]


def test_forced_match_when_no_prior_reaches_pos_thresh() -> None:
    priors = torch.tensor([shifted_prior(0.2), shifted_prior(0.3), shifted_prior(0.45)])
    loc_t, conf_t, idx_t, boxes = run(GT, priors, torch.tensor([2]))
    # Best prior (IoU 0.45, normally neutral) is forced positive; the others stay background.
    assert conf_t.tolist() == [0, 0, 3]
    assert torch.allclose(loc_t[2], encode(GT, priors[2:3])[0])


def test_forced_match_resolves_competition_greedily() -> None:
    # Both GTs prefer prior 0; GT 1 overlaps it more, so it takes it and GT 0 gets prior 1.
    priors = torch.tensor([[0.3, 0.3, 0.4, 0.4], shifted_prior(0.3, cx=0.3), [0.9, 0.9, 0.1, 0.1]])
    gt = torch.tensor([[0.12, 0.1, 0.52, 0.5], [0.1, 0.1, 0.5, 0.5]])
    _, conf_t, idx_t, _ = run(gt, priors, torch.tensor([6, 7]))
    assert conf_t.tolist() == [8, 7, 0]
    assert idx_t[:2].tolist() == [1, 0]


def test_crowd_neutralises_covered_non_positive_priors() -> None:
    gt = torch.tensor([[0.1, 0.1, 0.5, 0.5], [0.0, 0.0, 1.0, 0.5]])  # second is a crowd region
    priors = torch.tensor(
        [
            [0.3, 0.3, 0.4, 0.4],  # positive, fully inside the crowd: stays positive
            [0.8, 0.2, 0.2, 0.2],  # background, fully covered by the crowd -> neutral
            [0.8, 0.5, 0.2, 0.2],  # half covered (0.5 <= 0.7): stays background
            [0.8, 0.9, 0.2, 0.2],  # outside the crowd: background
        ]
    )
    _, conf_t, idx_t, _ = run(gt, priors, torch.tensor([0, -1]), crowds=1)
    assert conf_t.tolist() == [1, -1, 0, 0]
    assert int(idx_t.max()) == 0  # crowds are never matched as objects


def test_no_objects_is_all_background() -> None:
    priors = torch.tensor([[0.3, 0.3, 0.4, 0.4], [0.8, 0.8, 0.2, 0.2]])
    loc_t, conf_t, idx_t, boxes = run(torch.zeros(0, 4), priors, torch.zeros(0, dtype=torch.int64))
    assert conf_t.tolist() == [0, 0]
    assert torch.all(loc_t == 0) and torch.all(boxes == 0) and torch.all(idx_t == 0)
    # Crowd-only image: covered priors become neutral.
    _, conf_t, _, _ = run(torch.tensor([[0.5, 0.5, 1.0, 1.0]]), priors, torch.tensor([-1]), crowds=1)
    assert conf_t.tolist() == [0, -1]


def reference_match(gt: torch.Tensor, priors: torch.Tensor, labels: torch.Tensor):
    """The original algorithm written with plain loops (test oracle)."""
    overlaps = jaccard(gt, point_form(priors)).tolist()
    k, p = len(overlaps), len(overlaps[0])
    best = [max(range(k), key=lambda g: (overlaps[g][i], -g)) for i in range(p)]
    best_ov = [overlaps[best[i]][i] for i in range(p)]
    for _ in range(k):
        pairs = ((g, q) for g in range(k) for q in range(p))
        j, i = max(pairs, key=lambda t: (overlaps[t[0]][t[1]], -t[0], -t[1]))
        for g in range(k):
            overlaps[g][i] = -1
        overlaps[j] = [-1] * p
        best_ov[i], best[i] = 2.0, j
    conf = [int(labels[b]) + 1 if o >= 0.5 else (-1 if o >= 0.4 else 0) for b, o in zip(best, best_ov)]
    return conf, best


def test_matches_loop_reference_on_random_boxes() -> None:
    gen = torch.Generator().manual_seed(3)
    cxcy = torch.rand(60, 2, generator=gen)
    wh = torch.rand(60, 2, generator=gen) * 0.5 + 0.05
    priors = torch.cat([cxcy, wh], 1)
    xy = torch.rand(5, 2, generator=gen) * 0.6
    gt = torch.cat([xy, xy + torch.rand(5, 2, generator=gen) * 0.4 + 0.05], 1)
    labels = torch.randint(0, 10, (5,), generator=gen)
    loc_t, conf_t, idx_t, boxes = run(gt, priors, labels)
    conf_ref, idx_ref = reference_match(gt, priors, labels)
    assert conf_t.tolist() == conf_ref
    pos = conf_t > 0
    assert idx_t[pos].tolist() == [i for i, c in zip(idx_ref, conf_ref) if c > 0]
    assert torch.allclose(boxes, gt[idx_t])
    assert torch.allclose(loc_t, encode(gt[idx_t], priors))


def test_targets_from_arrays_puts_crowds_last() -> None:
    import numpy as np

    boxes = np.array([[0, 0, 1, 1], [0, 0, 0.5, 0.5], [0.5, 0.5, 1, 1]], np.float32)
    masks = np.stack([np.full((4, 4), i, np.uint8) for i in range(3)])
    t = Targets.from_arrays(boxes, np.array([7, 8, 9]), masks, np.array([True, False, False]))
    assert t.num_crowds == 1 and t.num_objects == 2
    assert t.labels.tolist() == [8, 9, 7]
    assert t.masks[:, 0, 0].tolist() == [1, 2, 0]
    objs, crowd = t.split_crowds()
    assert objs.labels.tolist() == [8, 9] and crowd.tolist() == [[0, 0, 1, 1]]
    assert t.to("cpu").boxes.dtype == torch.float32
