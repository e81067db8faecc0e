"""benchmarks/video_oracle_flow.py regenerates the scenes of a synthetic set exactly, including
sets written with ``--motion-scale`` (its ground-truth flow is only right for the same scene)."""
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from yolactedge.data.synth import generate_video_dataset
from benchmark_scripts import load_benchmark


def load_script():
    return load_benchmark("video_oracle_flow")


@pytest.mark.parametrize("motion_scale", [1.0, 0.25])
def test_scene_source_reproduces_frames_on_disk(tmp_path, motion_scale):
    script = load_script()
    paths = generate_video_dataset(tmp_path / "v", num_videos=0, num_val_videos=1, num_frames=6,
                                   annotate_every=5, image_size=(64, 80), seed=3, progress=False,
                                   motion_scale=motion_scale)
    ann = paths["val_annotations"]
    scenes = script.SceneSource(Path(ann), "val", None, None)
    assert scenes.motion_scale == motion_scale
    scene = scenes.scene(0)
    assert scene.motion_scale == motion_scale
    video = json.loads(Path(ann).read_text())["videos"][0]
    for t in (0, 5):
        on_disk = cv2.imread(str(Path(ann).parent / "JPEGImages" / video["file_names"][t // 5]))
        rendered, _ = scenes.render(scene, 0, t)
        assert np.abs(rendered.astype(np.float32) - on_disk).mean() < script.MAX_FRAME_DIFF
