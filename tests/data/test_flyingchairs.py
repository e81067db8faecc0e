"""FlyingChairs reader on a generated set, and exactness of the ground-truth flow."""
import cv2
import numpy as np
import pytest

from yolactedge.data.errors import DatasetError
from yolactedge.data.flyingchairs import FlyingChairsDataset
from yolactedge.data.synth import generate_flow_pair, generate_flow_pairs
from yolactedge.data.synth.flow_field import layer_flow, valid_flow
from yolactedge.data.synth.layers import make_background_layer, make_object_layer, similarity
from yolactedge.data.synth.render import render_layers


def warp_back(img2: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """img2 sampled at p + flow(p): equals img1 where the flow is right and p is not occluded."""
    h, w = flow.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return cv2.remap(img2.astype(np.float32), xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_LINEAR)


def test_reader_splits_and_items(flow_set):
    assert flow_set["split_file"].read_text() == "1\n2\n1\n2\n"
    train, val = FlyingChairsDataset(flow_set["root"], "train"), FlyingChairsDataset(flow_set["root"], "val")
    assert train.pair_ids == [1, 3] and val.pair_ids == [2, 4]
    img1, img2, flow = val[0]
    assert img1.shape == img2.shape == (64, 80, 3) and img1.dtype == np.uint8
    assert flow.shape == (64, 80, 2) and flow.dtype == np.float32
    np.testing.assert_array_equal(flow, generate_flow_pair(0, 1, (64, 80)).flow)


def test_flow_files_are_exact_on_visible_pixels(tmp_path):
    """What remains after warping is sensor noise, fixed-in-image lighting and resampling."""
    size = (160, 200)
    root = generate_flow_pairs(tmp_path, num_pairs=6, image_size=size, seed=0, val_fraction=0.5,
                               progress=False)["root"]
    warped_total, still_total, moving = 0.0, 0.0, 0
    for split in ("train", "val"):
        ds = FlyingChairsDataset(root, split)
        for index, pair_id in enumerate(ds.pair_ids):
            img1, img2, flow = ds[index]
            valid = generate_flow_pair(0, pair_id - 1, size).valid
            assert valid.mean() > 0.5
            if np.linalg.norm(flow, axis=-1)[valid].mean() < 1.0:
                continue  # a slow pair (motion strength near 0): sensor noise dominates both errors
            moving += 1
            warped_err = np.abs(warp_back(img2, flow) - img1).mean(-1)[valid].mean()
            still_err = np.abs(img2.astype(np.float32) - img1).mean(-1)[valid].mean()
            assert warped_err < 0.7 * still_err, (pair_id, warped_err, still_err)
            warped_total += warped_err
            still_total += still_err
    assert moving >= 2 and warped_total < 0.5 * still_total


def test_layer_flow_is_exact_without_camera_noise():
    rng = np.random.Generator(np.random.PCG64(3))
    layers = [make_background_layer(rng, 120, 140, ()), make_object_layer(rng, 3, 40, 36, ()),
              make_object_layer(rng, 1, 50, 20, ())]
    poses1 = [similarity(-10, -12, 0.0), similarity(40, 40, 0.3), similarity(60, 50, 1.0)]
    poses2 = [similarity(-7, -10, 0.03, 1.02), similarity(46, 37, 0.45, 0.95), similarity(57, 55, 0.8, 1.1)]
    img1, owner1 = render_layers((96, 112), layers, poses1)
    img2, owner2 = render_layers((96, 112), layers, poses2)
    flow = layer_flow(owner1, poses1, poses2)
    valid = valid_flow(flow, owner1, owner2)
    # drop pixels next to an edge in either image, where bilinear sampling mixes layers
    edge = cv2.dilate((cv2.Laplacian(owner1.astype(np.float32), cv2.CV_32F) != 0).astype(np.uint8), np.ones((3, 3)))
    interior = valid & (edge == 0)
    err = np.abs(warp_back(img2, flow) - img1).mean(-1)
    assert err[interior].mean() < 1.0
    assert np.abs(img2 - img1).mean(-1)[interior].mean() > 5.0


def test_missing_files_are_reported(tmp_path, flow_set):
    with pytest.raises(DatasetError, match="FlyingChairs_train_val.txt"):
        FlyingChairsDataset(tmp_path)
    (tmp_path / "FlyingChairs_train_val.txt").write_text("1\n")
    (tmp_path / "data").mkdir()
    with pytest.raises(DatasetError, match=r"00001_img1\.ppm.*missing"):
        FlyingChairsDataset(tmp_path)[0]
    with pytest.raises(DatasetError, match="no val pairs"):
        FlyingChairsDataset(tmp_path, "val")
