"""YolactEdge.predict and the CLI, end to end on a small freshly initialised model."""
import json

import cv2
import numpy as np
import pytest
import torch

from yolactedge import YolactEdge
from yolactedge.checkpoints import save_checkpoint
from yolactedge.cli.main import main
from yolactedge.config import get_config
from yolactedge.model import build_model

SMALL = dict(preprocess={"input_size": (160, 160)}, class_names=("a", "b", "c"))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    config = get_config("yolact_edge_resnet18_config", **SMALL)
    model = build_model(config)
    with torch.no_grad():  # bias the head so that some detections survive
        model.prediction_layers[0].conf_layer.bias[1::4] += 4.0
    path = tmp_path_factory.mktemp("ckpt") / "small.pt"
    save_checkpoint(path, model, config)
    return path


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("imgs")
    rng = np.random.default_rng(0)
    for i in range(2):
        cv2.imwrite(str(folder / f"im{i}.png"), rng.integers(0, 255, (120, 200, 3), dtype=np.uint8))
    (folder / "notes.txt").write_text("not an image")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8garbage")
    return folder


def test_predict_folder_results(checkpoint, images):
    model = YolactEdge.load(checkpoint, device="cpu")
    with pytest.warns(UserWarning, match="broken.jpg"):
        results = model.predict(images, conf=0.05, max_det=7)
    assert len(results) == 2
    r = results[0]
    assert 0 < len(r) <= 7
    assert r.masks.shape == (len(r), 120, 200) and r.masks.dtype == bool
    assert (r.boxes[:, 2] <= 200).all() and (r.boxes[:, 3] <= 120).all()
    assert set(r.speed) == {"preprocess", "inference", "nms", "masks"}
    assert np.all(np.diff(r.scores) <= 0)
    json.loads(r.to_json())
    only = model.predict(images, conf=0.05, classes=[0])
    assert all((x.class_ids == 0).all() for x in only)


def test_predict_numpy_stream_and_no_masks(checkpoint):
    model = YolactEdge.load(checkpoint, device="cpu")
    frames = [np.zeros((64, 64, 3), np.uint8), np.zeros((50, 70), np.uint8)]  # gray converted
    gen = model.predict(frames, conf=0.05, stream=True, masks=False)
    outs = list(gen)
    assert len(outs) == 2 and outs[1].orig_img.shape == (50, 70, 3) and outs[0].masks is None
    with pytest.raises(ValueError, match="box_from_mask=True needs the masks"):
        model.predict(frames, masks=False, box_from_mask=True)
    image = np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    tight = model.predict(image, conf=0.05, box_from_mask=True)[0]
    filled = [(box, mask) for box, mask in zip(tight.boxes, tight.masks) if mask.any()]
    assert filled, "the biased head should give some non-empty masks"
    for box, mask in filled:
        ys, xs = np.nonzero(mask)
        np.testing.assert_array_equal(box, [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])


def test_matches_raw_pipeline(checkpoint):
    """predict() = preprocess + network + shared post-processing, nothing else."""
    from yolactedge.data.preprocess import preprocess_image
    from yolactedge.ops import detect, postprocess

    model = YolactEdge.load(checkpoint, device="cpu")
    image = np.random.default_rng(1).integers(0, 255, (90, 110, 3), dtype=np.uint8)
    r = model.predict(image, conf=0.0)[0]
    with torch.no_grad():
        out = model.model(preprocess_image(image, model.config.preprocess)[None])
    dets = detect(out.loc, out.conf, out.mask, out.priors, model.config.postprocess)[0]
    inst = postprocess(dets, out.proto[0], (90, 110), model.config.postprocess)
    np.testing.assert_allclose(r.boxes, inst.boxes.numpy(), atol=1e-4)
    np.testing.assert_array_equal(r.masks, inst.masks.numpy())


def _write_clip(path, frames, step):
    """A tiny MJPG video of flat frames getting brighter by ``step`` per frame."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (96, 80))
    for i in range(frames):
        writer.write(np.full((80, 96, 3), step * i, np.uint8))
    writer.release()
    return path


def test_video_preset_keyframes_in_a_video(tmp_path):
    config = get_config("yolact_edge_vid_minimal_resnet50_config", preprocess={"input_size": (128, 128)})
    model = YolactEdge.from_config(config, device="cpu")
    path = _write_clip(tmp_path / "clip.avi", frames=7, step=20)
    results = model.predict(path, conf=0.5, keyframe_interval=3)
    assert [r.keyframe for r in results] == [True, False, False, True, False, False, True]
    every = model.predict(path, conf=0.5, keyframe_interval=1)
    assert all(r.keyframe for r in every)
    tracked = model.predict(path, conf=0.0, max_det=5, keyframe_interval=3, track=True)
    assert all(r.ids is not None and len(r.ids) == len(r) for r in tracked)


def test_prototype_and_head_reuse_options_in_predict(tmp_path, checkpoint, capsys):
    """Reuse skips ProtoNet (and unchanged heads) on non-keyframes only; bad uses are clear errors."""
    config = get_config("yolact_edge_vid_minimal_resnet50_config", preprocess={"input_size": (96, 96)})
    model = YolactEdge.from_config(config, device="cpu")
    path = _write_clip(tmp_path / "clip.avi", frames=5, step=30)
    calls = {"proto": 0, "head": 0}
    model.model.proto_net.register_forward_hook(lambda *_: calls.__setitem__("proto", calls["proto"] + 1))
    model.model.prediction_layers[0].register_forward_hook(lambda *_: calls.__setitem__("head", calls["head"] + 1))

    def run(**options):
        calls.update(proto=0, head=0)
        results = model.predict(path, conf=0.0, keyframe_interval=3, **options)
        assert [r.keyframe for r in results] == [True, False, False, True, False]
        return results, dict(calls)

    levels = len(config.anchors.scales)
    plain, plain_calls = run()
    assert plain_calls == {"proto": 5, "head": 5 * levels}
    reused, reuse_calls = run(reuse_prototypes=True)
    assert reuse_calls == {"proto": 2, "head": 5 * levels}  # ProtoNet on the 2 keyframes only
    _, head_calls = run(reuse_prototypes=True, reuse_heads=float("inf"))
    assert head_calls == {"proto": 2, "head": 2 * levels + 3}  # non-keyframes: P3 only
    for a, b in zip(plain, reused):
        if a.keyframe:
            np.testing.assert_array_equal(a.scores, b.scores)
    with pytest.raises(ValueError, match="change threshold"):
        model.predict(path, reuse_heads=-1.0)
    image_model = YolactEdge.load(checkpoint, device="cpu")
    with pytest.raises(ValueError, match="image model"):
        image_model.predict(np.zeros((40, 40, 3), np.uint8), reuse_prototypes=True)
    code = main(["predict", "--model", str(checkpoint), "--source", str(path), "--out", str(tmp_path / "o"),
                 "--reuse-prototypes"])
    assert code == 2 and "image model" in capsys.readouterr().err


def test_track_ids_follow_objects_across_video_frames():
    from yolactedge.api.predictor import _with_track_ids
    from yolactedge.api.results import Results

    def frame(x0, source="v.mp4"):
        masks = np.zeros((2, 40, 60), bool)
        masks[0, 5:15, x0:x0 + 10] = True
        masks[1, 25:35, 40:50] = True
        boxes = np.array([[x0, 5, x0 + 10, 15], [40, 25, 50, 35]], np.float32)
        return Results(orig_img=np.zeros((40, 60, 3), np.uint8), boxes=boxes, scores=np.ones(2, np.float32),
                       class_ids=np.array([0, 1]), masks=masks, source=source, is_video=True)

    out = list(_with_track_ids(iter([frame(5), frame(7), frame(9), frame(5, "other.mp4")])))
    assert out[0].ids.tolist() == out[1].ids.tolist() == out[2].ids.tolist() == [1, 2]
    assert out[3].ids.tolist() == [1, 2]  # a new source starts a new tracker


def test_cli_predict_and_checks(checkpoint, images, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["predict", "--model", str(checkpoint), "--source", str(images), "--out", str(out), "--conf", "0.05"]) == 0
    assert (out / "im0.jpg").exists() and (out / "predictions.json").exists()
    records = json.loads((out / "predictions.json").read_text())
    assert len(records) == 2
    text = capsys.readouterr().out
    assert "2 frames processed, 1 skipped" in text
    plain = tmp_path / "plain"  # the loaded modules instead of the inference copy: the same detections
    assert main(["predict", "--model", str(checkpoint), "--source", str(images), "--out", str(plain), "--conf", "0.05",
                 "--no-optimize", "--no-save"]) == 0
    for a, b in zip(records, json.loads((plain / "predictions.json").read_text())):
        assert [d["class_id"] for d in a["detections"]] == [d["class_id"] for d in b["detections"]]
        np.testing.assert_allclose([d["score"] for d in a["detections"]], [d["score"] for d in b["detections"]],
                                   atol=1e-4)
    capsys.readouterr()
    assert main(["checks"]) == 0
    assert "torch" in capsys.readouterr().out


def test_cli_bad_input_is_a_clear_error(checkpoint, tmp_path, capsys):
    code = main(["predict", "--model", str(checkpoint), "--source", str(tmp_path / "missing.mp4"), "--out", str(tmp_path)])
    assert code == 2 and "does not exist" in capsys.readouterr().err
    code = main(["predict", "--model", str(tmp_path / "nope.pt"), "--source", str(tmp_path), "--out", str(tmp_path)])
    assert code == 2 and "weights file does not exist" in capsys.readouterr().err
