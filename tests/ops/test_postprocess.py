"""Post-processing on hand-built cases."""
import numpy as np
import torch

from yolactedge.config.schema import PostprocessConfig
from yolactedge.ops.boxes import decode, encode, jaccard
from yolactedge.ops.detect import Detections, detect_one, filter_detections, postprocess
from yolactedge.ops.masks import assemble_masks, crop
from yolactedge.ops.nms import fast_nms, greedy_nms, traditional_nms


def boxes(*rows):
    return torch.tensor(rows, dtype=torch.float32)


def test_encode_decode_round_trip():
    priors = torch.tensor([[0.5, 0.5, 0.2, 0.2], [0.3, 0.6, 0.1, 0.3]])
    gt = boxes([0.4, 0.45, 0.62, 0.58], [0.22, 0.4, 0.31, 0.9])
    np.testing.assert_allclose(decode(encode(gt, priors), priors).numpy(), gt.numpy(), atol=1e-6)


def test_fast_nms_suppression_order():
    # Class 0: A (0.9), B overlaps A (0.8) -> suppressed; C overlaps only B (0.7) -> still suppressed
    # because Fast NMS lets already-suppressed boxes suppress (the original's behaviour).
    b = boxes([0.0, 0.0, 0.4, 0.4], [0.05, 0.0, 0.45, 0.4], [0.14, 0.0, 0.54, 0.4], [0.6, 0.6, 0.9, 0.9])
    assert jaccard(b[1:2], b[2:3]).item() > 0.5 and jaccard(b[0:1], b[2:3]).item() < 0.5
    scores = torch.tensor([[0.9, 0.8, 0.7, 0.6]])
    coefs = torch.arange(4.0)[:, None].expand(4, 2)
    out_b, out_c, out_cls, out_s = fast_nms(b, coefs, scores, 0.5, 200, 100)
    np.testing.assert_allclose(out_s.numpy(), [0.9, 0.6])
    np.testing.assert_allclose(out_c[:, 0].numpy(), [0, 3])
    # Traditional NMS keeps C (its only overlap, B, was suppressed first).
    _, _, _, trad_s = traditional_nms(b, coefs, scores, 0.5, 0.05, 100, 550.0)
    np.testing.assert_allclose(trad_s.numpy(), [0.9, 0.7, 0.6])


def test_fast_nms_classes_are_independent_and_max_det():
    b = boxes([0.1, 0.1, 0.5, 0.5], [0.1, 0.1, 0.5, 0.5])
    scores = torch.tensor([[0.9, 0.1], [0.2, 0.8]])  # two classes, same boxes
    _, _, cls, s = fast_nms(b, torch.zeros(2, 1), scores, 0.5, 200, 100)
    # Per class, the duplicate box is suppressed; each class keeps its best.
    assert sorted(zip(cls.tolist(), s.tolist())) == [(0, 0.8999999761581421), (1, 0.800000011920929)]
    _, _, _, s1 = fast_nms(b, torch.zeros(2, 1), scores, 0.5, 200, max_det=1)
    assert s1.tolist() == [0.8999999761581421]


def test_greedy_nms_basic():
    b = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], float)
    keep = greedy_nms(b, np.array([0.5, 0.9, 0.3]), 0.5)
    assert keep.tolist() == [1, 2]


def test_crop_padding_is_one_proto_pixel():
    masks = torch.ones(10, 10, 1)
    out = crop(masks, torch.tensor([[0.3, 0.4, 0.6, 0.7]]))
    # x1 = 3 - 1 = 2, x2 = 6 + 1 = 7 -> columns 2..6; y1 = 3, y2 = 8 -> rows 3..7
    cols = torch.where(out[0, :, 0] > 0)
    assert out[:, :, 0].nonzero()[:, 1].unique().tolist() == [2, 3, 4, 5, 6]
    assert out[:, :, 0].nonzero()[:, 0].unique().tolist() == [3, 4, 5, 6, 7]
    assert cols is not None


def test_empty_detections():
    cfg = PostprocessConfig()
    p = 30
    conf = torch.zeros(p, 3)
    conf[:, 0] = 1.0  # everything background
    dets = detect_one(torch.zeros(p, 4), conf, torch.zeros(p, 4), torch.rand(p, 4), cfg)
    assert len(dets) == 0
    inst = postprocess(dets, torch.rand(8, 8, 4), (20, 30), cfg)
    assert inst.boxes.shape == (0, 4) and inst.masks.shape == (0, 20, 30)
    assert assemble_masks(torch.rand(8, 8, 4), torch.zeros(0, 4), torch.zeros(0, 4), (5, 5)).shape == (0, 5, 5)


def test_one_detection_end_to_end():
    cfg = PostprocessConfig()
    priors = torch.tensor([[0.5, 0.5, 0.4, 0.4], [0.2, 0.2, 0.1, 0.1]])
    conf = torch.tensor([[0.1, 0.9, 0.0], [0.99, 0.005, 0.005]])
    coefs = torch.tensor([[1.0], [0.0]])
    dets = detect_one(torch.zeros(2, 4), conf, coefs, priors, cfg)
    # Fast NMS has no per-class second threshold (the original's behaviour): the same prior also
    # survives for class 1 with score 0; user-level ``conf`` filtering removes it.
    assert dets.classes.tolist() == [0, 1] and dets.scores.tolist() == [0.8999999761581421, 0.0]
    dets = filter_detections(dets, min_score=0.05)
    assert len(dets) == 1 and dets.classes.tolist() == [0]
    np.testing.assert_allclose(dets.boxes.numpy(), [[0.3, 0.3, 0.7, 0.7]], atol=1e-6)
    proto = torch.full((10, 10, 1), 5.0)  # sigmoid(5) > 0.5 everywhere before cropping
    inst = postprocess(dets, proto, (100, 200), cfg)
    np.testing.assert_allclose(inst.boxes.numpy(), [[60, 30, 140, 70]], atol=1e-4)
    m = inst.masks[0].numpy()
    ys, xs = np.nonzero(m)
    # crop at proto res: cols 2..7, rows 2..7 -> upsampled to ~[40,160) x [20,80)
    assert 35 <= xs.min() <= 45 and 155 <= xs.max() <= 165 and 15 <= ys.min() <= 25 and 75 <= ys.max() <= 85


def test_filter_detections_classes_score_and_max_det():
    dets = Detections(torch.rand(4, 4), torch.rand(4, 2), torch.tensor([0, 1, 2, 1]), torch.tensor([0.9, 0.8, 0.3, 0.1]))
    assert filter_detections(dets, min_score=0.25).scores.tolist() == [0.8999999761581421, 0.800000011920929, 0.30000001192092896]
    assert filter_detections(dets, classes=[1]).classes.tolist() == [1, 1]
    assert len(filter_detections(dets, max_det=2)) == 2


def test_box_from_mask_is_the_masks_tight_box():
    from yolactedge.ops.masks import mask_boxes

    masks = torch.zeros(3, 6, 8, dtype=torch.bool)
    masks[0, 1:4, 2:7] = True
    masks[1, 5, 0] = True
    fallback = boxes([0.5, 0.5, 1.5, 1.5], [0, 0, 1, 1], [1.0, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(mask_boxes(masks, fallback).numpy(), [[2, 1, 7, 4], [0, 5, 1, 6], [1, 2, 3, 4]])
    assert mask_boxes(masks[:0], fallback[:0]).shape == (0, 4)

    # end to end: a mask narrower than its regressed box gives the mask's box, not the regression's
    cfg = PostprocessConfig(box_from_mask=True)
    priors = torch.tensor([[0.5, 0.5, 0.4, 0.4]])
    dets = detect_one(torch.zeros(1, 4), torch.tensor([[0.1, 0.9]]), torch.tensor([[1.0]]), priors, cfg)
    proto = torch.full((10, 10, 1), -5.0)
    proto[4:6, 4:6] = 5.0  # only the middle 2x2 prototype pixels are on
    inst = postprocess(dets, proto, (100, 100), cfg)
    ys, xs = np.nonzero(inst.masks[0].numpy())
    np.testing.assert_array_equal(inst.boxes[0].numpy(), [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
    assert inst.boxes[0, 2] - inst.boxes[0, 0] < 30  # the regressed box is 40 px wide
    regressed = postprocess(dets, proto, (100, 100), PostprocessConfig())
    np.testing.assert_allclose(regressed.boxes.numpy(), [[30, 30, 70, 70]], atol=1e-4)
