"""Native TensorRT: engines from the component ONNX files. Real tests on a machine with an NVIDIA
GPU and TensorRT >= 8.6; elsewhere they skip with the reason (shown by ``pytest -ra``), and only
the clear-error checks run."""
import sys
import types

import pytest
import torch

from yolactedge.deploy.backends.tensorrt import TensorRTUnavailable, import_tensorrt

from deploy_helpers import seeded_model, tiny_config

try:
    import tensorrt  # noqa: F401

    SKIP = None if torch.cuda.is_available() else "TensorRT is installed but no CUDA device is available"
except ImportError as exc:
    SKIP = f"tensorrt is not importable ({exc}); these tests need an NVIDIA GPU machine with TensorRT >= 8.6"
needs_trt = pytest.mark.skipif(SKIP is not None, reason=SKIP or "TensorRT available")


def test_missing_tensorrt_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # makes ``import tensorrt`` raise ImportError
    with pytest.raises(TensorRTUnavailable, match=r"TensorRT not found \(pip install tensorrt"):
        import_tensorrt()


def test_too_old_tensorrt_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", types.SimpleNamespace(__version__="8.2.1.8"))
    with pytest.raises(TensorRTUnavailable, match=r"TensorRT 8.2.1.8 detected; supported >= 8.6"):
        import_tensorrt()


@pytest.mark.skipif(SKIP is None, reason="TensorRT and CUDA are available here")
def test_tensorrt_export_fails_fast_without_it(tmp_path):
    from yolactedge.deploy.export import export_model

    config = tiny_config((64, 64))
    with pytest.raises(TensorRTUnavailable):
        export_model(seeded_model(config), config, tmp_path / "trt", target="tensorrt")
    assert not (tmp_path / "trt").exists()


def _component_onnx(tmp_path, name="head"):
    from yolactedge.deploy.backends.pipeline import ComponentPipeline
    from yolactedge.deploy.backends.pytorch import torch_runners
    from yolactedge.deploy.components import build_component, component_specs
    from yolactedge.deploy.onnx_export import export_module

    config = tiny_config((96, 128))
    model = seeded_model(config)
    reference = ComponentPipeline(torch_runners(model, config), config, backend="pytorch", batch=None)
    _, trace = reference.trace(torch.randn(1, 3, 96, 128))
    spec = component_specs(config)[name]
    inputs = {n: trace.tensors[n] for n in spec.inputs}
    path = export_module(build_component(model, name), tuple(inputs.values()), tmp_path / f"{name}.onnx",
                         spec.inputs, spec.outputs)
    return spec, path, inputs, {n: trace.tensors[n] for n in spec.outputs}


@pytest.mark.gpu
@needs_trt
@pytest.mark.parametrize("precision, tolerance", [("fp32", 1e-4), ("fp16", 1e-2)])
def test_engine_matches_pytorch(tmp_path, precision, tolerance):
    from yolactedge.deploy.backends.tensorrt import TensorRTComponentRunner, build_engine
    from yolactedge.deploy.parity import Deviation

    spec, path, inputs, expected = _component_onnx(tmp_path)
    runner = TensorRTComponentRunner(spec, build_engine(path, precision), precision, torch.device("cuda"))
    outputs = runner(inputs)
    for name, ref in expected.items():
        assert outputs[name].device.type == "cuda"
        rel = Deviation.between(ref, outputs[name]).rel
        assert rel <= tolerance, f"{precision} {name}: rel {rel:.2e}"


@pytest.mark.gpu
@needs_trt
def test_export_folder_with_engine_cache(tmp_path, calib_dir):
    from yolactedge.deploy.export import export_model
    from yolactedge.deploy.load import load_engine
    from yolactedge.deploy.parity import Deviation

    config = tiny_config((96, 128))
    model = seeded_model(config)
    export_model(model, config, tmp_path / "trt", target="tensorrt", precision="proto=int8,head=fp16",
                 calib=calib_dir, calib_count=4, calib_cache=tmp_path / "cache", parity_count=2)
    engines = sorted((tmp_path / "trt" / "engines").glob("*.engine"))
    assert len(engines) == 5  # built during the export's parity check, kept with the folder
    engine = load_engine(tmp_path / "trt", device="cuda")
    assert engine.backend == "tensorrt" and engine.precision["proto"] == "int8"
    assert sorted((tmp_path / "trt" / "engines").glob("*.engine")) == engines  # cache hit, nothing rebuilt
    x = torch.randn(1, 3, 96, 128)
    with torch.inference_mode():
        ref, out = model(x), engine.infer(x)
    assert Deviation.between(ref.loc, out.loc).rel < 0.1
