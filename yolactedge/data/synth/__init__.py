"""Procedural benchmark data: COCO images, YouTube-VIS videos and FlyingChairs flow pairs.

Everything is seeded per item (``seeding.sub_rng``), so the same arguments give byte-identical
files and any single image, video or pair can be regenerated on its own.
"""
from yolactedge.data.synth.flow_pairs import FlowPair, generate_flow_pair, generate_flow_pairs
from yolactedge.data.synth.image_dataset import generate_image_dataset
from yolactedge.data.synth.scene import SynthImage, SynthInstance, generate_image
from yolactedge.data.synth.shapes import CATEGORY_IDS, CLASS_NAMES, SHAPE_CLASSES
from yolactedge.data.synth.video_dataset import generate_video_dataset

__all__ = [
    "CATEGORY_IDS",
    "CLASS_NAMES",
    "SHAPE_CLASSES",
    "FlowPair",
    "SynthImage",
    "SynthInstance",
    "generate_flow_pair",
    "generate_flow_pairs",
    "generate_image",
    "generate_image_dataset",
    "generate_video_dataset",
]
