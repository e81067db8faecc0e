"""``yolactedge benchmark`` / ``run_benchmark``: one table over backends x plans with per-stage times,
JSON output, video input with keyframes and encoding, mAP on a dataset, clear errors."""
import json

import numpy as np
import pytest

from yolactedge.cli.main import main
from yolactedge.data.synth import CLASS_NAMES, generate_image_dataset
from yolactedge.bench.run import BenchmarkError, BenchmarkOptions, run_benchmark
from yolactedge.deploy.precision import PrecisionPlanError

from deploy_helpers import seeded_model, small_config, tiny_config

SIZE = (96, 128)
FAST = dict(frames=2, rounds=2, warmup=1, synthetic_size=SIZE, exporter="torchscript", progress=False)


@pytest.fixture(scope="module")
def shapes_model():
    """A tiny ResNet-18 with the synthetic benchmark's classes (so the mAP test can reuse it)."""
    config = small_config("yolact_edge_resnet18_config", SIZE, CLASS_NAMES)
    return seeded_model(config), config


@pytest.fixture(scope="module")
def engines(shapes_model, calib_dir, tmp_path_factory):
    """PyTorch + ONNX Runtime + OpenVINO over an FP32 and a partly INT8 plan, exports kept in ``work``."""
    model, config = shapes_model
    work = tmp_path_factory.mktemp("bench-work")
    report = run_benchmark(model, config, BenchmarkOptions(
        backends="pytorch,onnxruntime,openvino", precisions="fp32;proto=int8", calib=str(calib_dir), calib_count=4,
        work_dir=work, **FAST))
    return report, work


def test_one_row_per_backend_and_plan_with_stage_times(engines):
    report, _ = engines
    assert [r.label for r in report.rows] == ["pytorch/fp32", "onnxruntime/fp32", "openvino/fp32",
                                              "onnxruntime/proto=int8", "openvino/proto=int8"]
    assert report.rows[0].ratio == 1.0
    for row in report.rows:
        assert {"preprocess", "inference", "nms", "masks", "draw"} <= set(row.stages_ms)
        assert {"backbone", "fpn_phase_1", "fpn_phase_2", "proto", "head"} <= set(row.components_ms)
        assert len(row.rounds_ms) == 2 and row.frames_per_pass == 2
        assert row.ms_per_frame > 0 and row.fps == pytest.approx(1e3 / row.ms_per_frame)
        assert row.ratio == pytest.approx(row.ms_per_frame / report.rows[0].ms_per_frame)
        # Stages are per-frame means of the same frames: they add up to the end-to-end time.
        assert sum(row.stages_ms.values()) == pytest.approx(row.ms_per_frame, rel=0.05)
        assert sum(row.components_ms.values()) <= row.stages_ms["inference"] * 1.01
        assert row.gflops_per_s is not None and row.gflops_per_s > 0
    assert report.row("onnxruntime", "proto=int8").precision["proto"] == "int8"
    assert report.row("openvino", "proto=int8").precision["backbone"] == "fp32"
    assert report.rows[0].export is None and report.rows[1].export["reused"] is False
    assert report.model["keyframe_gflop"] > 0 and set(report.model["macs"]["key"]) >= {"backbone", "head"}
    text = report.table()
    assert "vs first" in text and "openvino/proto=int8" in text and "  backbone" in text


def test_json_written_and_parseable(engines, tmp_path):
    report, _ = engines
    data = json.loads(report.write_json(tmp_path / "out" / "bench.json").read_text())
    assert [r["label"] for r in data["rows"]] == [r.label for r in report.rows]
    assert data["rows"][3]["components_ms"]["proto"] > 0 and data["rows"][3]["plan"] == "proto=int8"
    assert data["settings"]["rounds"] == 2 and data["machine"]["physical_cores"] >= 1
    assert data["input"]["kind"] == "generated"


def test_kept_work_folder_reuses_exports_and_adds_map(engines, shapes_model, tmp_path):
    """Second run on the same work folder: no re-export; a COCO dataset adds box/mask AP per engine."""
    _, work = engines
    model, config = shapes_model
    root = generate_image_dataset(tmp_path / "coco", num_train=0, num_val=2, image_size=SIZE, seed=0, progress=False)
    report = run_benchmark(model, config, backends="pytorch,onnxruntime", precisions="fp32", work_dir=work,
                           data=(root["val_images"], root["val_annotations"]), count_flops=False,
                           **{**FAST, "rounds": 1, "frames": 1})
    ort = report.row("onnxruntime", "fp32")
    assert ort.export["reused"] is True
    for row in report.rows:
        assert {"box_AP", "mask_AP", "box_AP50"} <= set(row.metrics) and row.metrics["images"] == 2
        assert row.metrics["mask_AP"] == -1.0 or 0.0 <= row.metrics["mask_AP"] <= 100.0  # percent, as `val`
    # Same FP32 network, same post-processing: the same accuracy.
    assert ort.metrics["box_AP"] == pytest.approx(report.rows[0].metrics["box_AP"], abs=1e-3)
    assert "box AP" in report.summary_table()


def _write_video(path, frames: int, size=(72, 96)) -> None:
    from yolactedge.api.video_io import VideoSink
    from yolactedge.data.synth.video_scene import make_video_scene

    rng = np.random.default_rng(3)
    scene = make_video_scene(rng, size[0], size[1], frames)
    with VideoSink(path, 10.0, (size[1], size[0])) as sink:
        for t in range(frames):
            sink.write(scene.render(t, np.random.default_rng(t))[0])


def test_video_with_keyframe_interval_end_to_end(tmp_path):
    """Decode -> keyframe / non-keyframe engines -> drawing -> encode, on a generated video."""
    video = tmp_path / "clip.avi"
    _write_video(video, 6)
    config = tiny_config((64, 80), video=True)
    report = run_benchmark(seeded_model(config), config, backends="pytorch", source=str(video), keyframe_interval=2,
                           frames=5, rounds=1, work_dir=tmp_path / "work", progress=False)
    row = report.rows[0]
    assert row.frames_per_pass == 5 and row.keyframes_per_pass == 3  # frames 0, 2, 4
    assert row.keyframe_ms is not None and row.nonkeyframe_ms is not None
    assert {"decode", "encode", "draw"} <= set(row.stages_ms)
    assert {"partial_backbone", "flow", "transform", "backbone"} <= set(row.components_ms)
    assert report.settings["keyframe_interval"] == 2 and report.input["kind"] == "video"
    assert report.model["nonkeyframe_gflop"] < report.model["keyframe_gflop"]
    encoded = list((tmp_path / "work" / "encoded").glob("*.avi"))
    assert len(encoded) == 1 and encoded[0].stat().st_size > 0
    assert "nonkey ms" in report.summary_table()


def test_cli_writes_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    rc = main(["benchmark", "--config", "yolact_edge_resnet18_config", "--random-weights", "--imgsz", "64",
               "--backends", "pytorch", "--frames", "1", "--rounds", "1", "--warmup", "0",
               "--synthetic-size", "64", "80", "--json", str(out)])
    assert rc == 0
    data = json.loads(out.read_text())
    assert [r["label"] for r in data["rows"]] == ["pytorch/fp32"] and data["model"]["input_size"] == [64, 64]
    assert "stage (ms/frame)" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--source", "no/such/images"], "does not exist"),
    (["--backends", "pytorch,tflite"], "unknown backend 'tflite'"),
    (["--precision", "fp32,int9"], "int9"),
    (["--model", "missing.pt"], "does not exist"),
    (["--frames", "0"], "frames must be >= 1"),
    (["--config", "yolact_edge_resnet18_config"], "--random-weights"),
    (["--config", "no_such_config", "--random-weights"], "unknown config"),
])
def test_cli_bad_input_is_a_clear_error(argv, message, capsys):
    assert main(["benchmark", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_api_rejects_bad_requests(shapes_model):
    model, config = shapes_model
    with pytest.raises(BenchmarkError, match="unknown backend"):
        run_benchmark(model, config, backends="pytorch,cuda")
    with pytest.raises(PrecisionPlanError, match="unknown"):
        run_benchmark(model, config, precisions="fp32,backbone=int4")
    with pytest.raises(BenchmarkError, match="HxWx3 BGR uint8"):
        run_benchmark(model, config, backends="pytorch", source=[np.zeros((8, 8), np.uint8)])
    with pytest.raises(TypeError, match="unknown benchmark option"):
        run_benchmark(model, config, round=3)


def test_cli_dataset_with_other_classes_fails_before_any_work(tmp_path, capsys):
    root = generate_image_dataset(tmp_path / "coco", num_train=0, num_val=1, image_size=64, seed=0, progress=False)
    rc = main(["benchmark", "--config", "yolact_edge_resnet18_config", "--random-weights", "--imgsz", "64",
               "--backends", "pytorch", "--data", str(root["root"])])
    assert rc == 2
    assert "not in the dataset's categories" in capsys.readouterr().err
