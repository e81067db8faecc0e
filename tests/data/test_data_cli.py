"""``yolactedge synth ...`` and ``yolactedge data-check ...`` end to end."""
import argparse
import json

import pytest

from yolactedge.cli import datacheck
from yolactedge.cli.main import main


def run_datacheck(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    datacheck.register(parser.add_subparsers())
    args = parser.parse_args(["data-check", *argv])
    return args.func(args)


def test_synth_commands_then_data_check(tmp_path, capsys):
    assert main(["synth", "images", str(tmp_path / "img"), "--train", "2", "--val", "1", "--size", "48", "64",
                 "--seed", "2", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "train_annotations" in out and str(tmp_path / "img") in out
    data = json.loads((tmp_path / "img" / "val" / "annotations.json").read_text())
    assert len(data["images"]) == 1 and data["images"][0]["height"] == 48 and data["info"]["seed"] == 2
    assert main(["synth", "video", str(tmp_path / "vid"), "--videos", "1", "--val-videos", "0", "--frames", "6",
                 "--size", "48", "--flow", "--motion-scale", "0.5", "--quiet"]) == 0
    assert (tmp_path / "vid" / "train" / "Flow" / "video_0000" / "00004.flo").is_file()
    info = json.loads((tmp_path / "vid" / "train" / "annotations.json").read_text())["info"]
    assert info["motion_scale"] == 0.5
    with pytest.raises(SystemExit, match="--motion-scale must be > 0"):
        main(["synth", "video", str(tmp_path / "bad"), "--motion-scale", "-1", "--quiet"])
    assert main(["synth", "flow", str(tmp_path / "flow"), "--pairs", "2", "--size", "48", "--quiet"]) == 0
    assert (tmp_path / "flow" / "data" / "00002_flow.flo").is_file()
    capsys.readouterr()

    ann, images = tmp_path / "img" / "train" / "annotations.json", tmp_path / "img" / "train" / "images"
    assert run_datacheck([str(ann), str(images)]) == 0
    assert "OK" in capsys.readouterr().out
    vid = tmp_path / "vid" / "train"
    assert run_datacheck([str(vid / "annotations.json"), str(vid / "JPEGImages")]) == 0
    (images / "000000.jpg").unlink()
    assert run_datacheck([str(ann), str(images)]) == 1
    out = capsys.readouterr().out
    assert "missing_image" in out and "image id 1" in out
