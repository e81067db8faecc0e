"""Weights on disk: our self-describing checkpoints, original YOLACT/YolactEdge files, ImageNet backbones."""
from yolactedge.checkpoints.format import Checkpoint, load_model_weights, read_checkpoint, save_checkpoint
from yolactedge.checkpoints.imagenet import load_imagenet_backbone
from yolactedge.checkpoints.io import CheckpointError, load_weights_file, save_atomic
from yolactedge.checkpoints.original import check_state_dict, convert_yolact_state_dict, load_original_state_dict

__all__ = [
    "Checkpoint", "CheckpointError", "check_state_dict", "convert_yolact_state_dict", "load_imagenet_backbone",
    "load_model_weights", "load_original_state_dict", "load_weights_file", "read_checkpoint", "save_atomic",
    "save_checkpoint",
]
