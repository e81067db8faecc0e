"""YTVISDataset on a generated video set; the set's ground-truth flow is checked too."""
import contextlib
import io
import json

import cv2
import numpy as np
import pytest

from yolactedge.data.errors import DatasetError
from yolactedge.data.flo import read_flo
from yolactedge.data.synth import CLASS_NAMES
from yolactedge.data.ytvis import YTVISDataset


@pytest.fixture(scope="module")
def ds(video_set):
    return YTVISDataset(video_set["train_frames"], video_set["train_annotations"])


def test_layout(video_set):
    data = json.loads(video_set["train_annotations"].read_text())
    video = data["videos"][0]
    assert video["file_names"] == ["video_0000/00000.jpg", "video_0000/00005.jpg", "video_0000/00010.jpg"]
    assert video["length"] == 11 and (video["height"], video["width"]) == (64, 80)
    frames = sorted(p.name for p in (video_set["train_frames"] / "video_0000").iterdir())
    assert frames == [f"{t:05d}.jpg" for t in range(11)]
    assert len(list((video_set["train_flow"] / "video_0000").iterdir())) == 10
    for ann in data["annotations"]:
        assert len(ann["segmentations"]) == len(ann["bboxes"]) == len(ann["areas"]) == 3
        assert ann["iscrowd"] == 0 and any(s is not None for s in ann["segmentations"])


def test_annotated_frames_and_samples(ds):
    assert ds.num_videos == 2 and ds.class_names == CLASS_NAMES and ds.category_ids[:2] == [1, 3]
    assert ds.annotated_frames() == [(0, 0), (0, 5), (0, 10), (1, 0), (1, 5), (1, 10)]
    assert len(ds) == 6
    total = 0
    for i, (video, frame) in enumerate(ds.annotated_frames()):
        sample = ds.sample(video, frame)
        assert sample.image.shape == (64, 80, 3) and sample.image_id == i + 1
        assert sample.extra["frame"] == frame and sample.extra["video_index"] == video
        for box, mask in zip(sample.boxes, sample.masks):
            ys, xs = np.nonzero(mask)
            np.testing.assert_allclose(box, [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
        total += len(sample)
    assert total > 0
    assert ds.load_frame(0, 3).shape == (64, 80, 3)  # unannotated raw frame
    with pytest.raises(DatasetError, match="not annotated"):
        ds.sample(0, 3)
    with pytest.raises(DatasetError, match="must hold every raw frame"):
        ds.load_frame(0, 99)


def test_pair_sampling(ds):
    rng = np.random.Generator(np.random.PCG64(0))
    seen = set()
    for _ in range(30):
        sample, reference, offset = ds.sample_pair(1, rng)
        frame = sample.extra["frame"]
        assert frame in (5, 10) and 2 <= offset <= 5  # never the first annotated frame
        np.testing.assert_array_equal(reference, ds.load_frame(1, frame - offset))
        seen.add((frame, offset))
    assert len(seen) > 3
    sample, _, offset = ds.sample_pair(0, rng, offset_range=(8, 8))
    assert offset == min(8, sample.extra["frame"])  # clamped to the video start


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pycocotools' own numpy-2 warning
def test_to_coco_frames_is_valid_coco_gt(ds):
    from pycocotools.coco import COCO

    gt = ds.to_coco_frames()
    assert [im["id"] for im in gt["images"]] == list(range(1, 7))
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = gt
        coco.createIndex()
    for ann in gt["annotations"]:
        mask = coco.annToMask(ann)
        assert mask.shape == (64, 80) and mask.sum() == ann["area"]


def test_video_flow_is_exact(video_set):
    """Warping frame t+1 back with the stored flow reproduces frame t far better than no warp."""
    frames = video_set["train_frames"] / "video_0001"
    warped_err, still_err = [], []
    for t in range(10):
        a = cv2.imread(str(frames / f"{t:05d}.jpg")).astype(np.float32)
        b = cv2.imread(str(frames / f"{t + 1:05d}.jpg")).astype(np.float32)
        flow = read_flo(video_set["train_flow"] / "video_0001" / f"{t:05d}.flo")
        ys, xs = np.mgrid[0:64, 0:80].astype(np.float32)
        warped = cv2.remap(b, xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=(-1, -1, -1))
        inside = (warped >= 0).all(-1)
        warped_err.append(np.abs(warped - a)[inside].mean())
        still_err.append(np.abs(b - a)[inside].mean())
    assert np.mean(warped_err) < 0.8 * np.mean(still_err)


@pytest.mark.parametrize("change, message", [
    (lambda ann: ann.update(video_id=77), r"annotation id \d+: video_id 77 has no video record"),
    (lambda ann: ann.update(category_id=999), r"annotation id \d+: category_id 999 is not in 'categories'"),
])
def test_malformed_annotations_are_named(video_set, tmp_path, change, message):
    data = json.loads(video_set["train_annotations"].read_text())
    change(data["annotations"][0])
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(DatasetError, match=message):
        YTVISDataset(video_set["train_frames"], path)
    data["annotations"][0] = ["not", "an", "object"]
    path.write_text(json.dumps(data))
    with pytest.raises(DatasetError, match=r"annotation id \?: is not a JSON object"):
        YTVISDataset(video_set["train_frames"], path)
