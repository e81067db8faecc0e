"""Checkpoint round trips, YOLACT conversion and clear errors."""
import pytest
import torch

from yolactedge import YolactEdge, build_model
from yolactedge.checkpoints import (
    CheckpointError, convert_yolact_state_dict, load_imagenet_backbone, load_original_state_dict, read_checkpoint,
    save_checkpoint,
)
from yolactedge.config import get_config

SMALL = "yolact_edge_mobilenetv2_config"


def test_our_checkpoint_round_trip_carries_config(tmp_path):
    config = get_config(SMALL, class_names=("a", "b", "c"), preprocess={"input_size": (320, 320)})
    model = build_model(config)
    path = tmp_path / "m.pt"
    save_checkpoint(path, model, config, metadata={"note": "x"})
    loaded = YolactEdge.load(path, device="cpu")
    assert loaded.config == config
    assert loaded.names == {0: "a", 1: "b", 2: "c"}
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.model.state_dict()[k])
    assert not list(tmp_path.glob(".*tmp"))  # atomic write leaves no temporary files


def test_original_state_dict_needs_config(tmp_path):
    model = build_model(SMALL)
    path = tmp_path / "orig.pth"
    torch.save(model.state_dict(), path)
    with pytest.raises(CheckpointError, match="config="):
        read_checkpoint(path)
    loaded = YolactEdge.load(path, config=SMALL, device="cpu")
    assert torch.equal(loaded.model.state_dict()["semantic_seg_conv.weight"], model.state_dict()["semantic_seg_conv.weight"])


def test_yolact_v1_state_dict_converts():
    model = build_model(SMALL)
    edge = model.state_dict()
    v1 = {}
    for k, v in edge.items():
        if k.startswith("fpn_phase_1."):
            k = "fpn." + k[len("fpn_phase_1."):]
        elif k.startswith("fpn_phase_2."):
            k = "fpn." + k[len("fpn_phase_2."):]
        v1[k] = v.clone() + 1 if v.is_floating_point() else v.clone()
    v1["fpn.downsample_layers.2.weight"] = torch.zeros(1)  # extra level the config does not use
    v1["backbone.layer1.legacy"] = torch.zeros(1)  # legacy key dropped by the original loader
    converted = convert_yolact_state_dict(v1)
    assert set(converted) == set(edge)
    assert convert_yolact_state_dict(converted) == converted  # idempotent
    fresh = build_model(SMALL)
    load_original_state_dict(fresh, v1)
    assert torch.equal(fresh.state_dict()["fpn_phase_1.lat_layers.0.weight"], edge["fpn_phase_1.lat_layers.0.weight"] + 1)


def test_class_count_mismatch_names_key_shapes_and_cause():
    coco = build_model(SMALL).state_dict()
    model = build_model(get_config(SMALL, class_names=tuple("abcde")))
    with pytest.raises(CheckpointError) as err:
        load_original_state_dict(model, coco)
    text = str(err.value)
    assert "prediction_layers.0.conf_layer.weight" in text and "(243, 256, 3, 3)" in text and "(18, 256, 3, 3)" in text
    assert "81 classes" in text and "6" in text and "finetune" in text
    load_original_state_dict(model, coco, finetune=True)  # heads re-initialised, rest loaded
    assert torch.equal(model.state_dict()["proto_net.0.weight"], coco["proto_net.0.weight"])


def test_video_checkpoint_into_image_config_is_explained():
    vid = build_model("yolact_edge_vid_resnet50_config").state_dict()
    image = build_model(get_config("yolact_edge_resnet50_config", class_names=get_config("yolact_edge_vid_config").class_names))
    with pytest.raises(CheckpointError, match="video model"):
        load_original_state_dict(image, vid)


def test_image_checkpoint_starts_flow_training():
    image = build_model("yolact_edge_youtubevis_resnet50_config").state_dict()
    vid = build_model("yolact_edge_vid_resnet50_config")
    with pytest.raises(CheckpointError, match="allow_missing_video"):
        load_original_state_dict(vid, image)
    load_original_state_dict(vid, image, allow_missing_video=True)


def test_unsafe_pickle_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"model": object.__new__(type("Evil", (), {}))} if False else {"x": torch.zeros(1), "obj": set([1])}, path)
    with pytest.raises(CheckpointError):
        read_checkpoint(path, config=SMALL)


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        read_checkpoint(tmp_path / "nope.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable"):
        read_checkpoint(bad)


def test_imagenet_backbone_torchvision_layout(tmp_path):
    backbone = build_model("yolact_edge_resnet50_config").backbone
    tv = {}
    for k, v in backbone.state_dict().items():
        if k.startswith("layers."):
            stage, rest = k[len("layers."):].split(".", 1)
            k = f"layer{int(stage) + 1}.{rest}"
        tv[k] = torch.randn_like(v.float()).to(v.dtype) if v.is_floating_point() else v
    tv["fc.weight"] = torch.zeros(1000, 2048)
    path = tmp_path / "resnet50-19c8e357.pth"
    torch.save(tv, path)
    fresh = build_model("yolact_edge_resnet50_config").backbone
    load_imagenet_backbone(fresh, path, "resnet50")
    assert torch.equal(fresh.state_dict()["layers.2.0.conv1.weight"], tv["layer3.0.conv1.weight"])
    small = build_model("yolact_edge_resnet18_config").backbone
    with pytest.raises(CheckpointError, match="BasicBlock"):
        load_imagenet_backbone(small, path, "resnet18")


def test_mobilenet_imagenet_layout(tmp_path):
    backbone = build_model(SMALL).backbone
    tv = {"features." + k[len("layers."):]: v.clone() for k, v in backbone.state_dict().items()}
    tv["classifier.1.weight"] = torch.zeros(1000, 1280)
    path = tmp_path / "mobilenet_v2-b0353104.pth"
    torch.save(tv, path)
    load_imagenet_backbone(build_model(SMALL).backbone, path, "mobilenetv2")
