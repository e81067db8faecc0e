"""Layout of one still image: single objects, tight same-class clusters and clutter over a background.

Masks are taken from the owner map after all layers are drawn, so they are exactly the visible
parts; objects left with fewer than ``MIN_VISIBLE_PIXELS`` visible pixels are dropped. Some
clusters are annotated as one ``iscrowd`` region (the union of their visible members), as COCO
does for crowds. An object whose occluders hide more than ``1 - MIN_VISIBLE_FRACTION`` of it
(a sliver no annotator could name) becomes an ``iscrowd`` ignore region too: the evaluation
neither rewards nor punishes detections there, and training treats it as "don't care".

Sizes (fractions of the short side): single objects log-uniform in ``SINGLE_SIZE``, cluster
members uniform in ``CLUSTER_SIZE``; at 320 px about 33 % of the instances are COCO-"small".
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from yolactedge.data.synth.effects import apply_photometric, sample_photometric
from yolactedge.data.synth.layers import (
    Layer,
    make_background_layer,
    make_clutter_layer,
    make_object_layer,
    similarity,
)
from yolactedge.data.synth.render import render_layers
from yolactedge.data.synth.seeding import SizeSpec, draw_size, split_key, sub_rng
from yolactedge.data.synth.shapes import SHAPE_CLASSES, draw_object_size

MIN_VISIBLE_PIXELS = 6
MIN_VISIBLE_FRACTION = 0.25  # of the object's in-image area; less visible -> ignore region
SINGLE_SIZE = (0.1, 0.6)
CLUSTER_SIZE = (0.06, 0.11)
CROWD_PROB = 0.5  # fraction of clusters annotated as one iscrowd region
# Per image: 1..max_objects single objects, 0-2 clusters (P = CLUSTER_COUNT_P) of CLUSTER_MEMBERS
# members, 0-3 clutter blobs: about 6 annotated instances per image, close to COCO's 7.3.
CLUSTER_COUNT_P = (0.7, 0.25, 0.05)
CLUSTER_MEMBERS = (4, 10)
MAX_CLUTTER = 3


@dataclass
class SynthInstance:
    label: int  # 0-based class index into SHAPE_CLASSES
    mask: np.ndarray  # HxW bool, exactly the visible pixels
    crowd: bool = False


@dataclass
class SynthImage:
    image: np.ndarray  # HxWx3 uint8 BGR
    instances: list[SynthInstance] = field(default_factory=list)


@dataclass
class _Group:
    layers: list[tuple[Layer, np.ndarray]]
    annotate: bool  # False for clutter
    crowd: bool = False


def _single(rng: np.random.Generator, height: int, width: int, photos) -> _Group:
    label = int(rng.integers(len(SHAPE_CLASSES)))
    size = min(height, width) * float(np.exp(rng.uniform(*np.log(SINGLE_SIZE))))
    w, h = draw_object_size(rng, SHAPE_CLASSES[label], size)
    layer = make_object_layer(rng, label, w, h, photos)
    pose = similarity(rng.uniform(0, width), rng.uniform(0, height), rng.uniform(0, 2 * np.pi))
    return _Group([(layer, pose)], annotate=True)


def _cluster(rng: np.random.Generator, height: int, width: int, photos) -> _Group:
    """A few small objects of one class packed around a centre (people in a crowd, cars in a lot)."""
    label = int(rng.integers(len(SHAPE_CLASSES)))
    count = int(rng.integers(CLUSTER_MEMBERS[0], CLUSTER_MEMBERS[1] + 1))
    size = min(height, width) * rng.uniform(*CLUSTER_SIZE)
    spread = size * rng.uniform(0.3, 0.55) * np.sqrt(count)
    cx, cy = rng.uniform(0.15, 0.85) * width, rng.uniform(0.15, 0.85) * height
    members = []
    for _ in range(count):
        w, h = draw_object_size(rng, SHAPE_CLASSES[label], size * rng.uniform(0.8, 1.25))
        layer = make_object_layer(rng, label, w, h, photos)
        x, y = cx + rng.normal(0, spread), cy + rng.normal(0, spread)
        members.append((layer, similarity(x, y, rng.uniform(0, 2 * np.pi))))
    return _Group(members, annotate=True, crowd=bool(rng.random() < CROWD_PROB))


def _clutter(rng: np.random.Generator, height: int, width: int, photos) -> _Group:
    size = min(height, width) * rng.uniform(0.05, 0.3)
    layer = make_clutter_layer(rng, size * rng.uniform(0.6, 1.6), size * rng.uniform(0.6, 1.6), photos)
    pose = similarity(rng.uniform(0, width), rng.uniform(0, height), rng.uniform(0, 2 * np.pi))
    return _Group([(layer, pose)], annotate=False)


def annotate_groups(
    groups: Sequence[_Group], group_indices: Sequence[Sequence[int]], owner: np.ndarray, drawn: np.ndarray
) -> list[SynthInstance]:
    """Instances from the owner map: crowd clusters as one region, hidden slivers as ignore regions."""
    instances: list[SynthInstance] = []
    for group, indices in zip(groups, group_indices):
        if not group.annotate:
            continue
        label = group.layers[0][0].label
        if group.crowd:
            mask = np.isin(owner, indices)
            if mask.sum() >= MIN_VISIBLE_PIXELS:
                instances.append(SynthInstance(label, mask, crowd=True))
            continue
        for index in indices:
            mask = owner == index
            visible = int(mask.sum())
            if visible >= MIN_VISIBLE_PIXELS:
                hidden = visible < MIN_VISIBLE_FRACTION * drawn[index]
                instances.append(SynthInstance(label, mask, crowd=hidden))
    return instances


def render_scene(
    rng: np.random.Generator,
    height: int,
    width: int,
    photos: Sequence[np.ndarray] = (),
    max_objects: int = 7,
) -> SynthImage:
    """One random image with exact visible-part annotations."""
    groups = [_single(rng, height, width, photos) for _ in range(int(rng.integers(1, max_objects + 1)))]
    groups += [_cluster(rng, height, width, photos) for _ in range(int(rng.choice(3, p=CLUSTER_COUNT_P)))]
    groups += [_clutter(rng, height, width, photos) for _ in range(int(rng.integers(0, MAX_CLUTTER + 1)))]
    order = rng.permutation(len(groups))
    groups = [groups[i] for i in order]

    layers = [make_background_layer(rng, height, width, photos)]
    poses = [np.eye(3)]
    group_indices: list[list[int]] = []
    for group in groups:
        group_indices.append(list(range(len(layers), len(layers) + len(group.layers))))
        for layer, pose in group.layers:
            layers.append(layer)
            poses.append(pose)
    canvas, owner, drawn = render_layers((height, width), layers, poses, with_areas=True)
    image = apply_photometric(canvas, sample_photometric(rng), rng)

    return SynthImage(image, annotate_groups(groups, group_indices, owner, drawn))


def generate_image(
    seed: int,
    index: int,
    split: str = "train",
    image_size: SizeSpec = (384, 384),
    photos: Sequence[np.ndarray] = (),
) -> SynthImage:
    """Regenerate image ``index`` of ``split`` exactly as ``generate_image_dataset`` writes it
    (before JPEG/PNG encoding), without generating any other image."""
    rng = sub_rng(seed, split_key(split), index)
    height, width = draw_size(rng, image_size)
    return render_scene(rng, height, width, photos)
