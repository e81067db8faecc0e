"""An exported folder is a complete model: metadata round trip, same detections as the checkpoint
through YolactEdge.predict, CLI, and the single-file model.onnx with NumPy post-processing."""
import json

import numpy as np
import onnx
import pytest

from yolactedge import YolactEdge
from yolactedge.checkpoints import save_checkpoint
from yolactedge.cli.main import main
from yolactedge.config.schema import ModelConfig
from yolactedge.deploy import numpy_postprocess
from yolactedge.deploy.metadata import ManifestError, read_manifest, read_onnx_metadata

from deploy_helpers import seeded_model, tiny_config


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A tiny checkpoint exported through the CLI (ONNX, FP32, with model.onnx)."""
    root = tmp_path_factory.mktemp("roundtrip")
    config = tiny_config((128, 160))
    save_checkpoint(root / "tiny.pt", seeded_model(config), config)
    rc = main(["export", "--model", str(root / "tiny.pt"), "--out", str(root / "onnx"), "--whole-model",
               "--val-count", "2"])
    assert rc == 0
    return root, config


def test_manifest_and_onnx_metadata_round_trip(exported):
    root, config = exported
    manifest = read_manifest(root / "onnx")
    assert ModelConfig.from_dict(manifest["config"]) == config
    assert manifest["input_size"] == [128, 160] and manifest["class_names"] == ["a", "b"]
    assert set(manifest["components"]) == {"backbone", "fpn_phase_1", "fpn_phase_2", "proto", "head"}
    assert manifest["parity"]["pipeline"]["keyframe"]["agreement"] == 1.0
    for name, entry in manifest["components"].items():
        meta = read_onnx_metadata(root / "onnx" / entry["file"])
        assert meta["component"] == name and meta["precision"] == "fp32"
        assert ModelConfig.from_dict(meta["config"]) == config
        assert meta["class_names"] == ["a", "b"] and meta["preprocess"]["input_size"] == [128, 160]
        assert meta["model_hash"] == manifest["model_hash"]
        assert {"torch", "onnx", "yolactedge"} <= set(meta["versions"])
        graph = onnx.load(str(root / "onnx" / entry["file"]), load_external_data=False).graph
        assert [i.name for i in graph.input] == list(entry["inputs"])
        assert all(d.dim_value > 0 for i in graph.input for d in i.type.tensor_type.shape.dim)  # static shapes


def test_folder_predicts_like_the_checkpoint(exported, test_image):
    root, _ = exported
    from_ckpt = YolactEdge.load(root / "tiny.pt", device="cpu").predict(test_image, conf=0.2)[0]
    engine = YolactEdge.load(root / "onnx")
    assert engine.engine.backend == "onnxruntime"
    from_folder = engine.predict(test_image, conf=0.2)[0]
    assert len(from_ckpt.boxes) > 5
    np.testing.assert_array_equal(from_folder.class_ids, from_ckpt.class_ids)
    np.testing.assert_allclose(from_folder.scores, from_ckpt.scores, atol=1e-4)
    np.testing.assert_allclose(from_folder.boxes, from_ckpt.boxes, atol=0.05)
    inter = (from_folder.masks & from_ckpt.masks).sum((1, 2))
    union = (from_folder.masks | from_ckpt.masks).sum((1, 2))
    iou = np.where(union == 0, 1.0, inter / np.maximum(union, 1))  # both empty: agree
    assert iou.min() >= 0.99 and union.max() > 0
    with pytest.raises(AttributeError, match="no PyTorch module"):
        engine.model  # noqa: B018


def test_openvino_backend_on_the_same_folder(exported, test_image):
    from yolactedge.deploy.load import load_engine

    root, config = exported
    engine = load_engine(root / "onnx", device="cpu", backend="openvino")
    ref = YolactEdge.load(root / "tiny.pt", device="cpu").predict(test_image, conf=0.2)[0]
    got = YolactEdge(engine, engine.config).predict(test_image, conf=0.2)[0]
    np.testing.assert_array_equal(got.class_ids, ref.class_ids)
    np.testing.assert_allclose(got.scores, ref.scores, atol=1e-4)


def test_whole_model_onnx_with_numpy_postprocess(exported, test_image):
    """model.onnx + priors.npy + numpy_postprocess reproduce predict() without torch in the loop."""
    import onnxruntime

    root, config = exported
    manifest = read_manifest(root / "onnx")
    assert manifest["whole_model"]["outputs"] == ["loc", "conf", "coef", "proto", "priors"]
    session = onnxruntime.InferenceSession(str(root / "onnx" / "model.onnx"), providers=["CPUExecutionProvider"])
    from yolactedge.data.preprocess import preprocess_image

    x = preprocess_image(test_image, config.preprocess).unsqueeze(0).numpy()
    loc, conf, coef, proto, priors = session.run(None, {"image": x})
    np.testing.assert_array_equal(priors, np.load(root / "onnx" / "priors.npy"))
    assert conf.shape == (1, priors.shape[0], 3) and np.allclose(conf.sum(-1), 1, atol=1e-5)
    assert proto.shape[-1] == coef.shape[-1] == 32 and proto.shape[1:3] == (32, 40)
    det = numpy_postprocess.postprocess(loc[0], conf[0], coef[0], priors, proto[0], test_image.shape[:2],
                                        score_thresh=0.2)
    ref = YolactEdge.load(root / "tiny.pt", device="cpu").predict(test_image, conf=0.2)[0]
    np.testing.assert_array_equal(det["classes"], ref.class_ids)
    np.testing.assert_allclose(det["boxes"], ref.boxes, atol=0.05)
    assert (det["masks"] != ref.masks).mean() < 1e-3
    assert read_onnx_metadata(root / "onnx" / "model.onnx")["component"] == "model"


def test_not_an_export_folder(tmp_path):
    with pytest.raises(ManifestError, match="not a folder written by 'yolactedge export'"):
        YolactEdge.load(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(ManifestError, match="not a yolactedge export manifest"):
        read_manifest(tmp_path)


def test_cli_reports_missing_calibration(exported, tmp_path, capsys):
    root, _ = exported
    empty = tmp_path / "empty"
    empty.mkdir()
    rc = main(["export", "--model", str(root / "tiny.pt"), "--out", str(tmp_path / "x"), "--precision", "paper",
               "--calib", str(empty)])
    assert rc == 1
    err = capsys.readouterr().err
    assert "INT8 needs calibration images" in err and "contains 0 readable images" in err
    assert not (tmp_path / "x").exists()
