"""Starting points: an ImageNet backbone file, or another checkpoint (fine-tuning to other classes)."""
from __future__ import annotations

import pytest
import torch
from trainloop_helpers import tiny_arch, tiny_config

from yolactedge.checkpoints import CheckpointError, save_checkpoint
from yolactedge.data.coco import CocoDataset
from yolactedge.model import build_model
from yolactedge.train.trainer import Trainer


def test_pretrained_backbone_file_initialises_the_backbone(tmp_path, datasets) -> None:
    train, _ = datasets
    donor = build_model(tiny_arch(train.class_names)).backbone
    with torch.no_grad():
        for p in donor.parameters():
            p.normal_()
    # torchvision's MobileNetV2 layout: features.<i>... plus a classifier.
    state = {"features." + k[len("layers."):]: v for k, v in donor.state_dict().items()}
    state["classifier.1.weight"] = torch.zeros(1000, 1280)
    torch.save(state, tmp_path / "mobilenet_v2.pth")
    cfg = tiny_config(tmp_path / "run", pretrained_backbone=str(tmp_path / "mobilenet_v2.pth"))
    trainer = Trainer(cfg, train, None, tiny_arch(train.class_names), device="cpu", show_progress=False)
    for name, value in donor.state_dict().items():
        assert torch.equal(trainer.model.backbone.state_dict()[name], value), name


def test_finetune_from_a_checkpoint_with_other_classes(tmp_path, synth_root, datasets) -> None:
    train, _ = datasets
    source = build_model(tiny_arch(train.class_names))
    save_checkpoint(tmp_path / "source.pt", source, source.config)
    subset = CocoDataset(synth_root / "train" / "images", synth_root / "train" / "annotations.json",
                         class_names=train.class_names[:3])
    cfg = tiny_config(tmp_path / "run", init=str(tmp_path / "source.pt"))
    with pytest.raises(CheckpointError, match="finetune"):
        Trainer(cfg, subset, None, device="cpu", show_progress=False)
    trainer = Trainer(cfg.replace(finetune=True), subset, None, device="cpu", show_progress=False)
    assert trainer.model_config.class_names == train.class_names[:3]  # from the dataset
    assert trainer.model_config.backbone.name == "mobilenetv2"  # architecture from the checkpoint
    ours, theirs = trainer.model.state_dict(), source.state_dict()
    assert torch.equal(ours["backbone.layers.0.0.weight"], theirs["backbone.layers.0.0.weight"])
    assert torch.equal(ours["prediction_layers.0.bbox_layer.weight"], theirs["prediction_layers.0.bbox_layer.weight"])
    assert ours["prediction_layers.0.conf_layer.weight"].shape[0] == 3 * 4  # 3 anchors x (3 classes + background)
