"""INT8: entropy-calibrated QDQ files run on ONNX Runtime and OpenVINO with bounded deviation,
the calibration cache is reused, NNCF is the OpenVINO alternative, TensorRT gets symmetric INT8."""
import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

from yolactedge.data.preprocess import preprocess_image
from yolactedge.data.synth import generate_image
from yolactedge.deploy.export import export_model
from yolactedge.deploy.load import load_engine
from yolactedge.deploy.metadata import read_manifest, read_onnx_metadata
from yolactedge.deploy.parity import Deviation, detection_agreement
from yolactedge.deploy.quantize import SCHEMES, quantize_qdq

from deploy_helpers import seeded_model, tiny_config

SIZE = (96, 128)
# The tracer exports ~8x faster; the default dynamo exporter feeds the quantizer in the slow video
# test below and in every FP32 test.
EXPORTER = "torchscript"


@pytest.fixture(scope="module")
def tiny():
    config = tiny_config(SIZE)
    return config, seeded_model(config)


@pytest.fixture(scope="module")
def int8_folder(tiny, calib_dir, cache_dir, tmp_path_factory):
    config, model = tiny
    out = tmp_path_factory.mktemp("int8") / "out"
    log: list[str] = []
    export_model(model, config, out, target="onnx", precision="int8", calib=calib_dir, calib_count=6,
                 calib_cache=cache_dir, parity_count=2, progress=log.append, exporter=EXPORTER)
    return out, log


def _initializer(graph, name):
    return next((numpy_helper.to_array(t) for t in graph.initializer if t.name == name), None)


def test_qdq_files_are_u8_activations_and_per_channel_s8_weights(int8_folder):
    out, _ = int8_folder
    manifest = read_manifest(out)
    assert all(e["precision"] == "int8" and e["file"].endswith(".int8.onnx") for e in manifest["components"].values())
    graph = onnx.load(str(out / manifest["components"]["backbone"]["file"])).graph
    quant = [n for n in graph.node if n.op_type == "QuantizeLinear"]
    dequant = [n for n in graph.node if n.op_type == "DequantizeLinear"]
    assert len(quant) > 10 and len(dequant) > len(quant)
    zero_points = [_initializer(graph, n.input[2]) for n in quant]
    assert {z.dtype for z in zero_points if z is not None} == {np.dtype(np.uint8)}
    weight_scales = [_initializer(graph, n.input[1]) for n in dequant if _initializer(graph, n.input[0]) is not None
                     and _initializer(graph, n.input[0]).dtype == np.int8]
    assert weight_scales and all(s.ndim == 1 and s.size > 1 for s in weight_scales)  # per output channel
    meta = read_onnx_metadata(out / manifest["components"]["proto"]["file"])
    assert meta["precision"] == "int8"
    assert meta["calibration"]["count"] == 6 and meta["calibration"]["method"] == "entropy-qdq"
    assert meta["calibration"]["scheme"] == "cpu" and len(meta["calibration"]["data_hash"]) == 64


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_int8_runs_with_bounded_deviation(int8_folder, tiny, backend):
    out, _ = int8_folder
    config, model = tiny
    engine = load_engine(out, device="cpu", backend=backend)
    assert set(engine.precision.values()) == {"int8"}
    agreement = []
    for i in range(2):
        image = generate_image(21, i, image_size=(120, 160)).image
        x = preprocess_image(image, config.preprocess).unsqueeze(0)
        with torch.inference_mode():
            ref, got = model(x), engine.infer(x)
        for name in ("loc", "conf", "mask", "proto"):
            rel = Deviation.between(getattr(ref, name), getattr(got, name)).rel
            assert rel < 0.2, f"{backend} {name}: rel {rel:.3f}"
        agreement.append(detection_agreement(ref, got, config).agreement)
    assert np.mean(agreement) > 0.6


def test_second_export_reuses_the_calibration_cache(int8_folder, tiny, calib_dir, cache_dir, tmp_path):
    _, first_log = int8_folder
    config, model = tiny
    log: list[str] = []
    export_model(model, config, tmp_path / "again", target="onnx", precision="int8", calib=calib_dir, calib_count=6,
                 calib_cache=cache_dir, parity_count=1, progress=log.append, exporter=EXPORTER)
    assert not any("cache hit" in line for line in first_log)
    assert any("calibration: cache hit for 5 INT8 components" in line for line in log)
    assert not any("features collected" in line for line in log)
    # a different count is different calibration data: no stale reuse
    log.clear()
    export_model(model, config, tmp_path / "other", target="onnx", precision="proto=int8", calib=calib_dir,
                 calib_count=5, calib_cache=cache_dir, parity_count=1, progress=log.append, exporter=EXPORTER)
    assert any("features collected" in line for line in log)


class _Samples:
    """Minimal ``SpoolView`` stand-in: calibration samples in memory, counting reads."""

    def __init__(self, samples):
        self.samples, self.reads = samples, 0

    def chunks(self, size):
        self.reads += 1
        for i in range(0, len(self.samples), size):
            yield self.samples[i:i + size]


def test_tensorrt_scheme_is_symmetric_int8_and_shares_the_cached_ranges(tiny, tmp_path):
    """TensorRT only accepts zero-point-0 INT8; ranges calibrated for the CPU scheme are reused."""
    from yolactedge.deploy.components import build_component, component_specs
    from yolactedge.deploy.onnx_export import export_module

    config, model = tiny
    spec = component_specs(config)["proto"]
    p3 = [{"p3": torch.relu(torch.randn(1, 256, 12, 16)).numpy()} for _ in range(3)]
    fp32 = export_module(build_component(model, "proto"), (torch.from_numpy(p3[0]["p3"]),), tmp_path / "proto.onnx",
                         spec.inputs, spec.outputs)
    samples = _Samples(p3)
    cpu = quantize_qdq(fp32, tmp_path / "cpu.onnx", samples, key="k", cache_dir=tmp_path / "cache", stride=2)
    trt = quantize_qdq(fp32, tmp_path / "trt.onnx", samples, key="k", scheme=SCHEMES["tensorrt"],
                       cache_dir=tmp_path / "cache")
    assert not cpu.cache_hit and cpu.samples == 3 and trt.cache_hit and samples.reads == 1
    graph = onnx.load(str(trt.path)).graph
    zero_points = [_initializer(graph, n.input[2]) for n in graph.node if n.op_type == "QuantizeLinear"]
    assert zero_points and all(z.dtype == np.int8 and not z.any() for z in zero_points)


def test_nncf_int8_for_openvino(tiny, calib_dir, tmp_path):
    pytest.importorskip("nncf", reason="nncf is not installed (pip install nncf)")
    config, model = tiny
    export_model(model, config, tmp_path / "ov", target="openvino", precision="proto=int8", int8_method="nncf",
                 calib=calib_dir, calib_count=4, parity_count=1, exporter=EXPORTER)
    entry = read_manifest(tmp_path / "ov")["components"]["proto"]
    assert entry["openvino"] == "proto.int8.xml" and entry["onnx_precision"] == "fp32"
    ov_engine = load_engine(tmp_path / "ov", device="cpu", backend="openvino")
    assert ov_engine.precision["proto"] == "int8" and ov_engine.precision["backbone"] == "fp32"
    # ONNX Runtime on the same folder runs the FP32 ONNX file of that component and says so
    assert load_engine(tmp_path / "ov", device="cpu", backend="onnxruntime").precision["proto"] == "fp32"
    x = preprocess_image(generate_image(21, 0, image_size=(120, 160)).image, config.preprocess).unsqueeze(0)
    with torch.inference_mode():
        assert Deviation.between(model(x).proto, ov_engine.infer(x).proto).rel < 0.2


def test_int8_needs_images(tiny, tmp_path):
    from yolactedge.deploy.calibration import CalibrationError

    config, model = tiny
    (tmp_path / "empty").mkdir()
    with pytest.raises(CalibrationError, match="contains 0 readable images"):
        export_model(model, config, tmp_path / "out", precision="paper", calib=tmp_path / "empty")
    with pytest.raises(ValueError, match="nncf writes OpenVINO IR"):
        export_model(model, config, tmp_path / "out", target="onnx", precision="int8", int8_method="nncf")


@pytest.mark.slow
def test_video_paper_plan_calibrates_non_keyframe_components(calib_dir, tmp_path):
    config = tiny_config(SIZE, video=True)
    model = seeded_model(config)
    log: list[str] = []
    export_model(model, config, tmp_path / "vid", target="onnx", precision="paper", calib=calib_dir, calib_count=6,
                 calib_cache=tmp_path / "cache", parity_count=2, progress=log.append)
    manifest = read_manifest(tmp_path / "vid")
    int8 = {n for n, e in manifest["components"].items() if e["precision"] == "int8"}
    assert int8 == {"backbone", "partial_backbone", "flow_pre", "flow", "proto"}
    assert manifest["parity"]["pipeline"]["non-keyframe"]["frames"] == 1
    assert manifest["parity"]["components"]["flow"]["samples"] >= 1
    for backend in ("onnxruntime", "openvino"):
        engine = load_engine(tmp_path / "vid", device="cpu", backend=backend)
        frames = [preprocess_image(generate_image(21, i, image_size=(120, 160)).image, config.preprocess).unsqueeze(0)
                  for i in range(2)]
        with torch.inference_mode():
            key_ref, key_out = model(frames[0]), engine.infer(frames[0])
            ref, out = model(frames[1], keyframe_state=key_ref.state), engine.infer(frames[1], key_out.state)
        assert Deviation.between(ref.loc, out.loc).rel < 0.3


def test_int8_method_auto_picks_nncf_for_openvino_only():
    """Default INT8 method: NNCF for OpenVINO targets (measured more accurate at equal speed), Q/DQ elsewhere."""
    import importlib.util

    from yolactedge.deploy.export import ExportOptions

    onnx = ExportOptions(target="onnx")
    onnx.validate()
    openvino = ExportOptions(target="openvino")
    openvino.validate()
    assert onnx.int8_method == "qdq"
    assert openvino.int8_method == ("nncf" if importlib.util.find_spec("nncf") else "qdq")
    explicit = ExportOptions(target="openvino", int8_method="qdq")
    explicit.validate()
    assert explicit.int8_method == "qdq"
