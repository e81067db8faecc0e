"""The dependency-free NumPy post-processing equals yolactedge.ops on random raw outputs."""
import numpy as np
import pytest
import torch

from yolactedge.config.schema import PostprocessConfig
from yolactedge.deploy import numpy_postprocess as npp
from yolactedge.model.priors import PriorCache
from yolactedge.ops.detect import detect_one, postprocess


def _random_outputs(seed: int, num_classes: int = 4, k: int = 8):
    rng = np.random.default_rng(seed)
    priors = PriorCache(((24,), (48,), (96,)), (1.0, 0.5, 2.0), (96, 128))([(12, 16), (6, 8), (3, 4)], torch.device("cpu"))
    priors = priors.numpy()
    p = priors.shape[0]
    loc = (rng.standard_normal((p, 4)) * 0.5).astype(np.float32)
    logits = rng.standard_normal((p, num_classes)).astype(np.float32) * 2.5
    conf = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    coef = np.tanh(rng.standard_normal((p, k))).astype(np.float32)
    proto = np.maximum(rng.standard_normal((24, 32, k)), 0).astype(np.float32)
    return loc, conf.astype(np.float32), coef, priors, proto


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("image_size", [(96, 128), (75, 203)])
def test_numpy_postprocess_matches_ops(seed, image_size):
    loc, conf, coef, priors, proto = _random_outputs(seed)
    post = PostprocessConfig(top_k=50, max_det=40)
    ours = npp.postprocess(loc, conf, coef, priors, proto, image_size, conf_thresh=post.conf_thresh,
                           nms_thresh=post.nms_thresh, top_k=post.top_k, max_det=post.max_det)
    t = [torch.from_numpy(a) for a in (loc, conf, coef, priors, proto)]
    dets = detect_one(t[0], t[1], t[2], t[3], post, image_size)
    ref = postprocess(dets, t[4], image_size, post)
    assert len(dets) > 10, "the random outputs should produce a meaningful number of detections"
    np.testing.assert_array_equal(ours["classes"], ref.classes.numpy())
    np.testing.assert_allclose(ours["scores"], ref.scores.numpy(), rtol=0, atol=1e-6)
    np.testing.assert_allclose(ours["boxes"], ref.boxes.numpy(), rtol=0, atol=1e-3)
    assert ours["masks"].shape == tuple(ref.masks.shape)
    disagree = (ours["masks"] != ref.masks.numpy()).mean()
    assert disagree < 1e-4, f"{disagree:.2e} of mask pixels differ"


def test_numpy_box_from_mask_matches_ops():
    loc, conf, coef, priors, proto = _random_outputs(1)
    post = PostprocessConfig(top_k=50, max_det=40, box_from_mask=True)
    ours = npp.postprocess(loc, conf, coef, priors, proto, (96, 128), conf_thresh=post.conf_thresh,
                           nms_thresh=post.nms_thresh, top_k=post.top_k, max_det=post.max_det, box_from_mask=True)
    t = [torch.from_numpy(a) for a in (loc, conf, coef, priors, proto)]
    ref = postprocess(detect_one(t[0], t[1], t[2], t[3], post, (96, 128)), t[4], (96, 128), post)
    same = (ours["masks"] == ref.masks.numpy()).all((1, 2))
    assert same.sum() > 10
    np.testing.assert_allclose(ours["boxes"][same], ref.boxes.numpy()[same], rtol=0, atol=1e-3)
    plain = npp.postprocess(loc, conf, coef, priors, proto, (96, 128), conf_thresh=post.conf_thresh,
                            nms_thresh=post.nms_thresh, top_k=post.top_k, max_det=post.max_det)
    assert not np.allclose(plain["boxes"], ours["boxes"])


def test_resize_matches_torch_bilinear():
    x = np.random.default_rng(3).standard_normal((2, 7, 11)).astype(np.float32)
    for size in [(7, 11), (20, 33), (5, 4), (138, 69)]:
        ref = torch.nn.functional.interpolate(torch.from_numpy(x)[None], size=size, mode="bilinear", align_corners=False)[0]
        np.testing.assert_allclose(npp.resize_bilinear(x, size), ref.numpy(), rtol=0, atol=2e-6)


def test_no_candidates_gives_empty_results():
    loc, conf, coef, priors, proto = _random_outputs(0)
    conf = np.zeros_like(conf)
    conf[:, 0] = 1.0
    out = npp.postprocess(loc, conf, coef, priors, proto, (50, 60))
    assert out["boxes"].shape == (0, 4) and out["masks"].shape == (0, 50, 60)
