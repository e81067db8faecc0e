"""`yolactedge train` / `yolactedge val` end to end, and clear errors for broken datasets."""
from __future__ import annotations

import json
import shutil

import pytest

from yolactedge.checkpoints import read_checkpoint
from yolactedge.cli.main import main
from yolactedge.data.errors import DatasetError
from yolactedge.train.trainer import Trainer

from trainloop_helpers import tiny_config

TINY = ["--backbone", "mobilenetv2", "--fpn-features", "32", "--proto-channels", "32", "--imgsz", "96",
        "--batch", "4", "--workers", "0", "--no-tensorboard", "--no-plot", "--warmup-iters", "1"]


@pytest.mark.slow
def test_train_resume_and_val_from_the_command_line(tmp_path, synth_root, capsys) -> None:
    out = tmp_path / "run"
    assert main(["train", "--data", str(synth_root), "--epochs", "1", "--out", str(out), *TINY]) == 0
    ckpt = read_checkpoint(out / "last.pt")
    assert ckpt.train_state["iteration"] == 3  # 12 images / batch 4
    assert ckpt.config.backbone.name == "mobilenetv2" and ckpt.config.input_size == (96, 96)
    categories = json.loads((synth_root / "train" / "annotations.json").read_text())["categories"]
    assert list(ckpt.config.class_names) == [c["name"] for c in sorted(categories, key=lambda c: c["id"])]

    # --resume alone finds the data through the checkpoint; --epochs extends the run.
    assert main(["train", "--resume", str(out / "last.pt"), "--epochs", "2"]) == 0
    assert read_checkpoint(out / "last.pt").train_state["iteration"] == 6

    capsys.readouterr()
    results = tmp_path / "results"
    assert main(["val", "--model", str(out / "best.pt"), "--data", str(synth_root), "--json-out", str(results)]) == 0
    printed = capsys.readouterr().out
    assert "box" in printed and "mask" in printed and "AP50" in printed
    for name in ("bbox_detections.json", "mask_detections.json", "metrics.json"):
        assert (results / name).is_file(), name
    tight = tmp_path / "tight"
    assert main(["val", "--model", str(out / "best.pt"), "--data", str(synth_root), "--json-out", str(tight),
                 "--box-from-mask"]) == 0
    capsys.readouterr()
    masks = [json.loads((d / "mask_detections.json").read_text()) for d in (results, tight)]
    boxes = [json.loads((d / "bbox_detections.json").read_text()) for d in (results, tight)]
    assert masks[0] == masks[1] and boxes[0] and boxes[0] != boxes[1]


def test_missing_image_file_is_reported_before_training(tmp_path, synth_root, capsys) -> None:
    root = tmp_path / "data"
    shutil.copytree(synth_root, root)
    victim = sorted((root / "train" / "images").iterdir())[2]
    victim.unlink()
    assert main(["train", "--data", str(root), "--iters", "1", "--out", str(tmp_path / "run"), *TINY]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and victim.name in err and "do not exist" in err
    assert "Traceback" not in err


def test_empty_dataset_is_a_clear_error(tmp_path, synth_root, capsys) -> None:
    root = tmp_path / "data"
    (root / "train" / "images").mkdir(parents=True)
    ann = json.loads((synth_root / "train" / "annotations.json").read_text())
    ann["images"], ann["annotations"] = [], []
    (root / "train" / "annotations.json").write_text(json.dumps(ann))
    assert main(["train", "--data", str(root), "--iters", "1", "--out", str(tmp_path / "run"), *TINY]) == 2
    assert "contains no images" in capsys.readouterr().err
    with pytest.raises(DatasetError, match="empty"):
        Trainer(tiny_config(tmp_path), [], None, "yolact_edge_mobilenetv2_config", device="cpu")


def test_dataset_without_usable_annotations_is_rejected(tmp_path, synth_root, capsys) -> None:
    root = tmp_path / "data"
    shutil.copytree(synth_root, root)
    ann_file = root / "train" / "annotations.json"
    ann = json.loads(ann_file.read_text())
    ann["annotations"] = []
    ann_file.write_text(json.dumps(ann))
    assert main(["train", "--data", str(root), "--iters", "1", "--out", str(tmp_path / "run"), *TINY]) == 2
    assert "no training image has a non-crowd annotation" in capsys.readouterr().err


def test_data_root_without_splits_says_what_layout_is_expected(tmp_path, capsys) -> None:
    assert main(["train", "--data", str(tmp_path), "--iters", "1", *TINY]) == 2
    assert "train/annotations.json" in capsys.readouterr().err


def test_architecture_and_augmentation_flags_reach_the_configs() -> None:
    from yolactedge.cli.main import build_parser
    from yolactedge.cli.train import _overrides
    from yolactedge.train.config import TrainConfig, build_model_config

    args = build_parser().parse_args(["train", "--no-crop", "--no-expand", "--width-mult", "0.75"])
    config = TrainConfig().replace(**_overrides(args))
    assert not config.augment.crop and not config.augment.expand
    assert config.augment.photometric and config.augment.mirror
    arch = build_model_config("yolact_edge_demo_config", ("a", "b"), None, "resnet34", None, None, args.width_mult)
    assert arch.backbone.name == "resnet34" and arch.backbone.width_mult == 0.75
    assert arch.backbone.selected_layers == (1, 2, 3) and arch.class_names == ("a", "b")
    default = TrainConfig().replace(**_overrides(build_parser().parse_args(["train"])))
    assert default.augment == TrainConfig().augment
