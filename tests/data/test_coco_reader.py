"""CocoDataset on a generated set and on hand-written JSON with edge cases."""
import json

import cv2
import numpy as np
import pytest

from yolactedge.data.coco import CocoDataset
from yolactedge.data.errors import DatasetError
from yolactedge.data.sample import Sample
from yolactedge.data.synth import CLASS_NAMES, generate_image
from yolactedge.data.synth.encode import mask_to_rle


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def test_round_trip_matches_generator(image_set, image_params):
    ds = CocoDataset(image_set["train_images"], image_set["train_annotations"])
    assert len(ds) == 5 and ds.image_ids == [1, 2, 3, 4, 5]
    assert ds.class_names == CLASS_NAMES
    assert ds.category_ids == [1, 3, 5, 7, 9, 11, 13, 15]  # label i <-> JSON id
    saw_crowd = False
    for index in range(len(ds)):
        sample = ds[index]
        assert isinstance(sample, Sample) and sample.image.shape == (96, 128, 3)
        assert sample.path.endswith(f"{index:06d}.png") and sample.image_id == index + 1
        truth = generate_image(image_params["seed"], index, "train", image_params["size"])
        np.testing.assert_array_equal(sample.image, truth.image)
        assert len(sample) == len(truth.instances)
        for k, inst in enumerate(truth.instances):
            assert sample.labels[k] == inst.label and bool(sample.crowd[k]) == inst.crowd
            assert iou(sample.masks[k].astype(bool), inst.mask) > 0.99
            ys, xs = np.nonzero(sample.masks[k])
            np.testing.assert_allclose(sample.boxes[k], [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
        saw_crowd |= bool(sample.crowd.any())
        assert sample.boxes.dtype == np.float32 and sample.labels.dtype == np.int64
        assert sample.masks.dtype == np.uint8 and sample.crowd.dtype == bool
    assert saw_crowd


def _write(tmp_path, data, images=((1, "a.png", 20, 30),), name="ann.json"):
    for _, file_name, h, w in images:
        cv2.imwrite(str(tmp_path / file_name), np.full((h, w, 3), 100, np.uint8))
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def _base(anns):
    return {"images": [{"id": 1, "file_name": "a.png", "height": 20, "width": 30},
                       {"id": 7, "file_name": "b.png", "height": 20, "width": 30}],
            "annotations": anns,
            "categories": [{"id": 12, "name": "cup"}, {"id": 4, "name": "dog"}, {"id": 90, "name": "toaster"}]}


def test_segmentation_kinds_and_id_mapping(tmp_path):
    mask = np.zeros((20, 30), np.uint8)
    mask[5:10, 6:16] = 1
    rle = mask_to_rle(mask, compressed=True)
    anns = [
        {"id": 1, "image_id": 1, "category_id": 12, "bbox": [6, 5, 10, 5], "iscrowd": 0,
         "segmentation": [[6, 5, 16, 5, 16, 10, 6, 10]]},
        {"id": 2, "image_id": 1, "category_id": 90, "bbox": [6, 5, 10, 5], "iscrowd": 0, "segmentation": rle},
        {"id": 3, "image_id": 1, "category_id": 4, "bbox": [6, 5, 10, 5], "iscrowd": 1,
         "segmentation": mask_to_rle(mask, compressed=False)},
    ]
    path = _write(tmp_path, _base(anns), images=((1, "a.png", 20, 30), (7, "b.png", 20, 30)))
    ds = CocoDataset(tmp_path, path)
    assert ds.class_names == ("dog", "cup", "toaster") and ds.category_ids == [4, 12, 90]
    sample = ds[0]
    assert sample.labels.tolist() == [1, 2, 0] and sample.crowd.tolist() == [False, False, True]
    for m in sample.masks:
        np.testing.assert_array_equal(m, mask)
    np.testing.assert_allclose(sample.boxes[0], [6, 5, 16, 10])
    empty = ds[1]  # an image without annotations gives empty targets
    assert len(empty) == 0 and empty.masks.shape == (0, 20, 30) and empty.boxes.shape == (0, 4)
    assert ds.image_info(1)["file_name"] == "b.png"
    subset = CocoDataset(tmp_path, path, class_names=("toaster", "cup"))
    assert subset.category_ids == [90, 12] and subset[0].labels.tolist() == [1, 0]


def test_errors_name_the_file_and_record(tmp_path):
    anns = [{"id": 41, "image_id": 1, "category_id": 12, "bbox": [0, 0, 2, 2], "segmentation": [[1, 1, 2, 2]]}]
    path = _write(tmp_path, _base(anns))
    ds = CocoDataset(tmp_path, path)
    with pytest.raises(DatasetError, match=r"annotation id 41"):
        ds[0]
    with pytest.raises(DatasetError, match=r"b\.png.*image id 7"):
        ds[1]  # b.png was never written
    bad_cat = _write(tmp_path, _base([{**anns[0], "id": 5, "category_id": 3}]), name="bad_cat.json")
    with pytest.raises(DatasetError, match=r"annotation id 5.*category_id 3"):
        CocoDataset(tmp_path, bad_cat)
    orphan = _write(tmp_path, _base([{**anns[0], "id": 6, "image_id": 99}]), name="orphan.json")
    with pytest.raises(DatasetError, match=r"annotation id 6: image_id 99 has no image record; run `yolactedge"):
        CocoDataset(tmp_path, orphan)
    empty = _write(tmp_path, {"images": [], "annotations": [], "categories": [{"id": 1, "name": "x"}]},
                   name="empty.json")
    with pytest.raises(DatasetError, match="no images"):
        CocoDataset(tmp_path, empty)
    with pytest.raises(DatasetError, match="does not exist"):
        CocoDataset(tmp_path, tmp_path / "nope.json")
    with pytest.raises(DatasetError, match="not in its categories"):
        CocoDataset(tmp_path, path, class_names=("cat",))
