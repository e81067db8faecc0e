"""validate_coco / validate_ytvis catch each kind of problem, naming the file and record."""
import json

import cv2
import numpy as np

from yolactedge.data.validate import validate_coco, validate_ytvis


def test_generated_sets_are_clean(image_set, video_set):
    report = validate_coco(image_set["train_annotations"], image_set["train_images"])
    assert report.ok and not report.warnings, report.format()
    assert report.stats["images"] == 5
    report = validate_ytvis(video_set["train_annotations"], video_set["train_frames"])
    assert report.ok and not report.warnings, report.format()


def _dataset(tmp_path, images, annotations):
    cv2.imwrite(str(tmp_path / "ok.png"), np.zeros((20, 30, 3), np.uint8))
    (tmp_path / "junk.jpg").write_bytes(b"not an image")
    path = tmp_path / "ann.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations,
                                "categories": [{"id": 1, "name": "a"}, {"id": 5, "name": "b"}]}))
    return path


SQUARE = [[2, 2, 10, 2, 10, 10, 2, 10]]


def _ann(ann_id, **kw):
    return {"id": ann_id, "image_id": 1, "category_id": 1, "bbox": [2, 2, 8, 8], "iscrowd": 0,
            "segmentation": SQUARE, **kw}


def test_each_problem_is_found(tmp_path):
    images = [{"id": 1, "file_name": "ok.png", "height": 20, "width": 30},
              {"id": 2, "file_name": "gone.png", "height": 20, "width": 30},
              {"id": 3, "file_name": "junk.jpg", "height": 20, "width": 30},
              {"id": 4, "file_name": "ok.png", "height": 30, "width": 20}]
    anns = [_ann(1), _ann(2, category_id=3), _ann(3, segmentation=[[1, 1, 5, 5]]),
            _ann(4, segmentation=[[1, 1, 5, 5, 9, 9]]), _ann(5, bbox=[40, 30, 5, 5]), _ann(6, bbox=[2, 2, 0, 4]),
            _ann(7, bbox=[25, 2, 12, 8]), _ann(8, segmentation=[]), _ann(9, image_id=99)]
    report = validate_coco(_dataset(tmp_path, images, anns), tmp_path)
    assert not report.ok
    found = {(p.code, p.record) for p in report.errors}
    expected_errors = {
        ("missing_image", "image id 2"), ("unreadable_image", "image id 3"), ("size_mismatch", "image id 4"),
        ("unknown_category", "annotation id 2"), ("degenerate_polygon", "annotation id 3"),
        ("degenerate_polygon", "annotation id 4"), ("box_out_of_image", "annotation id 5"),
        ("empty_box", "annotation id 6"), ("missing_segmentation", "annotation id 8"),
        ("unknown_image", "annotation id 9"),
    }
    assert expected_errors <= found, report.format()
    assert ("box_out_of_image", "annotation id 7") in {(p.code, p.record) for p in report.warnings}
    assert not any(p.record == "annotation id 1" for p in report.problems)
    text = report.format()
    assert "FAILED" in text and "ann.json" in text and "gone.png" in text and "swapped" in text


def test_empty_and_broken_files(tmp_path):
    report = validate_coco(_dataset(tmp_path, [], []), tmp_path)
    assert "empty_dataset" in report.codes("error")
    (tmp_path / "bad.json").write_text("{not json")
    assert "unreadable_json" in validate_coco(tmp_path / "bad.json", tmp_path).codes("error")


def test_ytvis_problems(tmp_path, video_set):
    data = json.loads(video_set["train_annotations"].read_text())
    data["annotations"][0]["category_id"] = 2
    data["annotations"][1]["segmentations"] = data["annotations"][1]["segmentations"][:1]
    data["videos"][1]["file_names"][1] = "video_0001/00099.jpg"
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(data))
    report = validate_ytvis(path, video_set["train_frames"])
    codes = report.codes("error")
    assert {"unknown_category", "length_mismatch", "missing_image"} <= codes, report.format()
    frames = tmp_path / "frames"
    (frames / "video_0000").mkdir(parents=True)
    for name in data["videos"][0]["file_names"]:  # only the annotated frames
        (frames / name).write_bytes((video_set["train_frames"] / name).read_bytes())
    data = json.loads(video_set["train_annotations"].read_text())
    data["videos"] = data["videos"][:1]
    data["annotations"] = [a for a in data["annotations"] if a["video_id"] == 1]
    path.write_text(json.dumps(data))
    report = validate_ytvis(path, frames)
    assert report.ok and "missing_raw_frames" in report.codes("warning")
