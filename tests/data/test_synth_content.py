"""The generated scenes are varied and their annotations are the exact visible parts."""
import json

import numpy as np
import pytest

from yolactedge.data.synth import CLASS_NAMES, SHAPE_CLASSES, generate_image
from yolactedge.data.synth.scene import MIN_VISIBLE_PIXELS


def test_scene_statistics():
    labels, fractions, crowds = set(), [], 0
    for index in range(40):
        synth = generate_image(0, index, image_size=(64, 64))
        assert synth.image.shape == (64, 64, 3) and synth.image.dtype == np.uint8
        objects = [i for i in synth.instances if not i.crowd]
        crowds += sum(i.crowd for i in synth.instances)
        for inst in synth.instances:
            assert inst.mask.shape == (64, 64) and inst.mask.sum() >= MIN_VISIBLE_PIXELS
            labels.add(inst.label)
            fractions.append(inst.mask.mean())
        if objects:  # visible parts never overlap: each pixel shows one layer
            assert np.stack([i.mask for i in objects]).sum(0).max() <= 1
    assert len(SHAPE_CLASSES) >= 6 and len(labels) == len(CLASS_NAMES)
    assert crowds > 0
    assert min(fractions) < 0.01 and max(fractions) > 0.15  # small and large objects


def test_size_ranges_are_drawn_per_image():
    sizes = {generate_image(0, i, image_size=((40, 60), (50, 70))).image.shape[:2] for i in range(6)}
    assert len(sizes) > 1 and all(40 <= h <= 60 and 50 <= w <= 70 for h, w in sizes)


def test_coco_json_layout(image_set):
    data = json.loads(image_set["train_annotations"].read_text())
    assert list(data) == ["info", "licenses", "images", "annotations", "categories"]
    assert [c["id"] for c in data["categories"]] == [1, 3, 5, 7, 9, 11, 13, 15]
    assert data["info"]["seed"] == 1 and data["info"]["split"] == "train"
    segs = [a["segmentation"] for a in data["annotations"]]
    assert any(isinstance(s, list) for s in segs)  # polygons for plain objects
    crowd = [a for a in data["annotations"] if a["iscrowd"]]
    assert crowd and all(isinstance(a["segmentation"]["counts"], list) for a in crowd)  # COCO-style RLE
    rings = [a for a in data["annotations"] if a["category_id"] == 13 and not a["iscrowd"]]
    assert all(isinstance(a["segmentation"], (list, dict)) for a in rings)


def test_hidden_slivers_become_ignore_regions():
    """An object its occluder hides by > 75 % is annotated iscrowd (ignore); a lightly covered one is not."""
    from yolactedge.data.synth.layers import make_background_layer, make_object_layer, similarity
    from yolactedge.data.synth.render import render_layers
    from yolactedge.data.synth.scene import MIN_VISIBLE_FRACTION, _Group, annotate_groups

    rng = np.random.default_rng(0)
    rect = SHAPE_CLASSES.index(next(c for c in SHAPE_CLASSES if c.name == "rectangle"))
    hidden = (make_object_layer(rng, rect, 20, 20, ()), similarity(32, 20, 0.0))  # rows 10..30
    cover = (make_object_layer(rng, rect, 52, 52, ()), similarity(32, 38, 0.0))  # rows 12..64
    grazed = (make_object_layer(rng, rect, 16, 16, ()), similarity(8, 60, 0.0))  # right column under cover
    groups = [_Group([hidden], annotate=True), _Group([grazed], annotate=True), _Group([cover], annotate=True)]
    layers = [make_background_layer(rng, 72, 64, ())] + [g.layers[0][0] for g in groups]
    poses = [np.eye(3)] + [g.layers[0][1] for g in groups]
    _, owner, drawn = render_layers((72, 64), layers, poses, with_areas=True)
    assert drawn[1] == pytest.approx(400, rel=0.15) and (owner == 1).sum() < MIN_VISIBLE_FRACTION * drawn[1]
    instances = annotate_groups(groups, [[1], [2], [3]], owner, drawn)
    assert [i.crowd for i in instances] == [True, False, False]
    assert instances[0].mask.sum() == (owner == 1).sum()  # the ignore region is exactly the visible sliver


def test_motion_scale_replays_the_same_scene_slower(tmp_path):
    """--motion-scale stretches time only: at 0.5, frame 2t shows the poses of frame t at 1, and the
    exact flow per frame is about half as long."""
    from yolactedge.data.flo import read_flo
    from yolactedge.data.synth import generate_video_dataset
    from yolactedge.data.synth.video_scene import make_video_scene

    normal = make_video_scene(np.random.default_rng(3), 64, 80, 30)
    slow = make_video_scene(np.random.default_rng(3), 64, 80, 30, motion_scale=0.5)
    for t in (0, 3, 7):
        np.testing.assert_allclose(np.stack(slow.poses(2 * t)), np.stack(normal.poses(t)), atol=1e-9)
    assert not np.allclose(np.stack(slow.poses(2)), np.stack(normal.poses(2)))

    lengths = {}
    for scale in (1.0, 0.5):
        root = tmp_path / str(scale)
        generate_video_dataset(root, num_videos=2, num_val_videos=0, num_frames=4, image_size=(48, 64), seed=1,
                               save_flow=True, progress=False, motion_scale=scale)
        flows = [read_flo(p) for p in sorted((root / "train" / "Flow").rglob("*.flo"))]
        lengths[scale] = float(np.mean([np.linalg.norm(f, axis=-1).mean() for f in flows]))
        info = json.loads((root / "train" / "annotations.json").read_text())["info"]
        assert info["motion_scale"] == scale
    assert 0.3 < lengths[0.5] / lengths[1.0] < 0.7
    with pytest.raises(ValueError, match="motion_scale"):
        generate_video_dataset(tmp_path / "bad", num_videos=1, num_val_videos=0, motion_scale=0.0, progress=False)
