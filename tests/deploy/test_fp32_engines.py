"""FP32 engines (ONNX Runtime and OpenVINO) reproduce PyTorch FP32 raw outputs within 1e-4
(relative) at small, also non-square, input sizes - and the video non-keyframe path."""
import pytest
import torch

from yolactedge.data.preprocess import preprocess_image
from yolactedge.data.synth import generate_flow_pair, generate_image
from yolactedge.deploy.backends.pipeline import ComponentPipeline
from yolactedge.deploy.engine import Engine
from yolactedge.deploy.backends.pytorch import torch_runners
from yolactedge.deploy.export import export_model
from yolactedge.deploy.load import load_engine
from yolactedge.deploy.parity import Deviation, ParityError

from deploy_helpers import seeded_model, small_config, tiny_config

TOL = 1e-4
OUTPUTS = ("loc", "conf", "mask", "proto", "priors")


def _inputs(config, count=2):
    return [preprocess_image(generate_image(11, i, image_size=config.input_size).image, config.preprocess).unsqueeze(0)
            for i in range(count)]


def _assert_close(ref, out, what):
    for name in OUTPUTS:
        dev = Deviation.between(getattr(ref, name), getattr(out, name))
        assert dev.rel <= TOL, f"{what} {name}: rel {dev.rel:.2e}"


def _check_backends(folder, model, config):
    """The export's own check ran its target backend against the PyTorch components (equal to the
    model, see the exactness test below); here every backend is run against ``Yolact.forward``."""
    from yolactedge.deploy.metadata import read_manifest

    parity = read_manifest(folder)["parity"]["pipeline"]["keyframe"]
    assert all(parity[name] <= TOL for name in ("loc", "conf", "mask", "proto"))
    for backend in ("onnxruntime", "openvino"):
        engine = load_engine(folder, device="cpu", backend=backend)
        assert isinstance(engine, Engine) and engine.backend == backend and not engine.is_video
        assert set(engine.precision.values()) == {"fp32"}
        with torch.inference_mode():
            for x in _inputs(config, 1):
                _assert_close(model(x), engine.infer(x), f"{config.name} {backend}")
        assert set(engine.last_stage_times) >= {"backbone", "fpn_phase_1", "fpn_phase_2", "proto", "head"}


@pytest.mark.parametrize("preset, size, target", [
    ("yolact_edge_resnet50_config", (160, 160), "onnx"),
    ("yolact_edge_mobilenetv2_config", (192, 256), "openvino"),  # non-square; OpenVINO IR files
    pytest.param("yolact_edge_config", (160, 128), "onnx", marks=pytest.mark.slow),  # R-101, non-square
])
def test_image_presets_match_pytorch(preset, size, target, tmp_path):
    config = small_config(preset, size)
    model = seeded_model(config)
    export_model(model, config, tmp_path / "out", target=target, precision="fp32", parity_count=1)
    suffixes = [".bin", ".onnx", ".xml"] if target == "openvino" else [".onnx"]
    assert sorted(p.suffix for p in (tmp_path / "out").glob("backbone.*")) == suffixes
    _check_backends(tmp_path / "out", model, config)


def test_video_preset_keyframe_and_nonkeyframe_match_pytorch(tmp_path):
    config = small_config("yolact_edge_vid_resnet50_config", (128, 160), ("a", "b"))
    model = seeded_model(config)
    export_model(model, config, tmp_path / "out", target="openvino", precision="fp32", parity_count=2)
    pair = generate_flow_pair(3, 0, image_size=config.input_size)
    key, current = (preprocess_image(im, config.preprocess).unsqueeze(0) for im in (pair.img2, pair.img1))
    for backend in ("onnxruntime", "openvino"):
        engine = load_engine(tmp_path / "out", device="cpu", backend=backend)
        with torch.inference_mode():
            ref_key, out_key = model(key), engine.infer(key)
            _assert_close(ref_key, out_key, f"keyframe {backend}")
            ref, out = model(current, keyframe_state=ref_key.state), engine.infer(current, out_key.state)
        _assert_close(ref, out, f"non-keyframe {backend}")
        assert {"partial_backbone", "lateral", "flow", "transform"} <= set(engine.last_stage_times)
        assert "backbone" not in engine.last_stage_times
    _predict_video_like_pytorch(tmp_path, model, config, engine, [pair.img2, pair.img1, pair.img1[:, ::-1]])


@pytest.mark.parametrize("fresh", [{"fresh_blocks": (1, 1)}, {"fresh_lite": (8, 16), "fresh_lite_input": "c3"},
                                   {"fresh_lite": (8, 16), "fresh_lite_input": "c3+warp"}])
def test_fresh_top_model_exports_and_matches_pytorch_on_non_keyframes(tmp_path, fresh):
    """The transform component of a model with fresh top levels reads the current C3 by name."""
    config = tiny_config((96, 128), video=True).replace(flow={**fresh, "fresh_levels": "P4P5"})
    model = seeded_model(config)
    gate5 = model.fresh_top.gate5
    torch.nn.init.zeros_(gate5[-1].bias if isinstance(gate5, torch.nn.Sequential) else gate5.bias)  # half open
    if model.fresh_top.sees_warp:  # a new corrector's estimate is the warp itself: give it a correction
        torch.nn.init.normal_(model.fresh_top.lateral5.weight, std=0.1)
    export_model(model, config, tmp_path / "out", target="onnx", precision="fp32", parity_count=1)
    engine = load_engine(tmp_path / "out", device="cpu", backend="onnxruntime")
    key, current = _inputs(config)
    with torch.inference_mode():
        ref_key, out_key = model(key), engine.infer(key)
        _assert_close(model(current, keyframe_state=ref_key.state), engine.infer(current, out_key.state),
                      "fresh_top non-keyframe")


def _predict_video_like_pytorch(tmp_path, model, config, engine, frames):
    """Through YolactEdge.predict on a video file: keyframe scheduling and state handling as PyTorch."""
    import cv2
    import numpy as np

    from yolactedge import YolactEdge

    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 5, frames[0].shape[1::-1])
    if not writer.isOpened():
        pytest.skip("OpenCV cannot write MJPG video here")
    for frame in frames:
        writer.write(np.ascontiguousarray(frame))
    writer.release()
    ref = YolactEdge(model, config, device="cpu").predict(str(path), keyframe_interval=2, conf=0.3)
    got = YolactEdge(engine, config).predict(str(path), keyframe_interval=2, conf=0.3)
    assert [r.keyframe for r in got] == [r.keyframe for r in ref] == [True, False, True]
    assert sum(len(r.boxes) for r in ref) > 0
    for a, b in zip(ref, got):
        np.testing.assert_array_equal(a.class_ids, b.class_ids)
        np.testing.assert_allclose(a.scores, b.scores, atol=1e-4)


@pytest.mark.parametrize("video", [False, True, "fresh_top", "fresh_lite"])
def test_component_pipeline_reproduces_the_model_exactly(video):
    """The decomposition itself (PyTorch components chained) equals Yolact.forward (also with the
    fresh top levels, whose transform component reads the current frame's C3)."""
    config = tiny_config((96, 128), video=bool(video))
    if video == "fresh_top":
        config = config.replace(flow={"fresh_blocks": (1, 1), "fresh_levels": "P4P5"})
    if video == "fresh_lite":
        config = config.replace(flow={"fresh_lite": (8, 16), "fresh_levels": "P4P5"})
    model = seeded_model(config)
    pipe = ComponentPipeline(torch_runners(model, config), config, backend="pytorch", batch=None)
    x1, x2 = _inputs(config)
    with torch.inference_mode():
        ref, out = model(x1), pipe.infer(x1)
        for name in OUTPUTS:
            torch.testing.assert_close(getattr(out, name), getattr(ref, name), rtol=0, atol=0)
        if video:
            ref2, out2 = model(x2, keyframe_state=ref.state), pipe.infer(x2, out.state)
            for name in OUTPUTS:
                torch.testing.assert_close(getattr(out2, name), getattr(ref2, name), rtol=0, atol=0)
            with pytest.raises(ValueError, match="PyTorch backend only"):
                pipe.infer(x2, out.state, reuse_prototypes=True)


def test_static_batch_two_video_export_with_the_torchscript_exporter(tmp_path):
    """A batch-2 export (the fallback exporter, whose float64 warp grids are cast back) runs keyframes
    and non-keyframes for two streams at once, and refuses other batch sizes clearly."""
    config = tiny_config((64, 96), video=True)
    model = seeded_model(config)
    export_model(model, config, tmp_path / "b2", batch=2, exporter="torchscript")
    engine = load_engine(tmp_path / "b2", device="cpu")
    x = torch.randn(2, 3, 64, 96)
    with torch.inference_mode():
        key_ref, key_out = model(x), engine.infer(x)
        _assert_close(key_ref, key_out, "batch-2 keyframe")
        _assert_close(model(x.flip(-1), keyframe_state=key_ref.state), engine.infer(x.flip(-1), key_out.state),
                      "batch-2 non-keyframe")
    with pytest.raises(ValueError, match="exported for batch 2; re-export with --batch 3"):
        engine.infer(torch.zeros(3, 3, 64, 96))


@pytest.mark.parametrize("video", [False, True])
def test_batch_one_engines_loop_over_larger_batches(video):
    config = tiny_config((96, 96), video=video)
    model = seeded_model(config)
    pipe = ComponentPipeline(torch_runners(model, config), config, backend="pytorch", batch=1)
    x = torch.cat(_inputs(config), 0)
    with torch.inference_mode():
        ref, out = model(x), pipe.infer(x)
        pairs = [(ref, out)]
        if video:
            pairs.append((model(x.flip(-1), keyframe_state=ref.state), pipe.infer(x.flip(-1), out.state)))
    for r, o in pairs:
        for name in ("loc", "conf", "mask", "proto"):
            torch.testing.assert_close(getattr(o, name), getattr(r, name), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match=r"exported for \[N,3,96,96\]"):
        pipe.infer(torch.zeros(1, 3, 64, 64))


def test_fp32_export_is_refused_when_an_engine_deviates(tmp_path, monkeypatch):
    """A component engine that is off by 1e-3 (far above float32 noise): nothing may be written."""
    import yolactedge.deploy.export as export_module_

    real = export_module_.build_runners

    def skewed(*args, **kwargs):
        runners = real(*args, **kwargs)
        proto = runners["proto"]

        class Skewed:
            name, precision = proto.name, proto.precision

            def __call__(self, inputs):
                return {k: v * 1.001 for k, v in proto(inputs).items()}

        runners["proto"] = Skewed()
        return runners

    config = tiny_config((96, 96))
    model = seeded_model(config)
    out = tmp_path / "out"
    export_model(model, config, out, parity_count=1, exporter="torchscript")  # an earlier good export
    (out / "notes.txt").write_text("mine")
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    monkeypatch.setattr(export_module_, "build_runners", skewed)
    with pytest.raises(ParityError, match=r"refusing to save.*proto\.proto"):
        export_model(model, config, out, parity_count=1, exporter="torchscript")
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before  # untouched
    assert not list(tmp_path.glob(".out.staging-*"))
    monkeypatch.undo()
    export_model(model, config, out, parity_count=1, exporter="torchscript")  # replaces only its own files
    assert (out / "notes.txt").read_text() == "mine" and (out / "manifest.json").stat().st_mtime_ns > before["manifest.json"]


def test_float64_recheck_separates_rounding_noise_from_real_deviations():
    """An engine closer to float64 than PyTorch FP32 passes the recheck even with an impossible
    tolerance; one that is off by 1e-3 does not."""
    import copy

    from yolactedge.deploy.parity import check_parity, float64_recheck

    config = tiny_config((64, 64))
    model = seeded_model(config)
    reference = ComponentPipeline(torch_runners(model, config), config, backend="pytorch", batch=None)
    exact_runners = torch_runners(copy.deepcopy(model).double(), config, dtype=torch.float64)

    def engine_with(backbone):
        runners = dict(torch_runners(model, config))
        runners["backbone"] = backbone
        return ComponentPipeline(runners, config, backend="test", batch=None)

    class Rounded:  # float64 result rounded to float32: better than PyTorch's own float32
        name, precision = "backbone", "fp32"

        def __call__(self, inputs):
            return {k: v.float() for k, v in exact_runners["backbone"](inputs).items()}

    class Skewed(Rounded):
        def __call__(self, inputs):
            return {k: v * 1.001 for k, v in super().__call__(inputs).items()}

    batches = _inputs(config, 1)
    traces = [reference.trace(batches[0])[1]]
    for runner, survives in ((Rounded(), False), (Skewed(), True)):
        engine = engine_with(runner)
        report = check_parity(engine, reference, traces, batches, {n: "fp32" for n in engine.specs})
        failures = report.fp32_failures(tolerance=1e-12)
        assert any(f.where == "backbone" for f in failures)
        remaining = float64_recheck([f for f in failures if f.where == "backbone"], model, engine, reference,
                                    traces, batches, tolerance=1e-12)
        assert bool(remaining) == survives
        if survives:
            assert remaining[0].error > 2 * remaining[0].floor
