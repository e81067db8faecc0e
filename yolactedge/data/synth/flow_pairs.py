"""``generate_flow_pairs``: a FlyingChairs-format optical flow set with exact ground truth.

Each pair is a background under a small global affine motion plus several textured shapes (the
"chairs") with their own affine motions on top. Every pair draws a motion strength in [0, 1] that
scales all its motions, so the set covers still and slow scenes too: a flow net trained only on
large motions predicted spurious flow between identical frames, which cost the video model's
non-keyframes accuracy. The flow img1 -> img2 follows in closed form
from the layer poses (``flow_field.layer_flow``), using the layer visible in img1 at each pixel.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm import tqdm

from yolactedge.data.flo import write_flo
from yolactedge.data.flyingchairs import SPLIT_FILE
from yolactedge.data.synth.effects import apply_photometric, sample_photometric
from yolactedge.data.synth.flow_field import layer_flow, valid_flow
from yolactedge.data.synth.layers import about_point, make_background_layer, make_object_layer, similarity
from yolactedge.data.synth.photos import load_photos
from yolactedge.data.synth.render import render_layers
from yolactedge.data.synth.seeding import FLOW_PAIRS_KEY, SizeSpec, draw_size, sub_rng
from yolactedge.data.synth.shapes import SHAPE_CLASSES, draw_object_size
from yolactedge.data.synth.writers import write_image


@dataclass
class FlowPair:
    img1: np.ndarray  # HxWx3 uint8 BGR
    img2: np.ndarray
    flow: np.ndarray  # HxWx2 float32, img1(p) ~ img2(p + flow(p))
    valid: np.ndarray  # HxW bool: not occluded in img2 and inside it


def _random_motion(rng: np.random.Generator, cx: float, cy: float, angle_deg: float,
                   log_scale: float, shift: float) -> np.ndarray:
    """A random similarity about (cx, cy) with the given spreads, plus a translation."""
    angle = np.deg2rad(np.clip(rng.normal(0.0, angle_deg), -3 * angle_deg, 3 * angle_deg))
    scale = float(np.exp(np.clip(rng.normal(0.0, log_scale), -3 * log_scale, 3 * log_scale)))
    m = about_point(similarity(0.0, 0.0, angle, scale), cx, cy)
    m[:2, 2] += rng.normal(0.0, shift, 2)
    return m


def generate_flow_pair(
    seed: int,
    index: int,
    image_size: SizeSpec = (384, 512),
    photos: Sequence[np.ndarray] = (),
) -> FlowPair:
    """Pair ``index`` exactly as ``generate_flow_pairs`` writes it (ids there start at 1 = index 0)."""
    rng = sub_rng(seed, FLOW_PAIRS_KEY, index)
    height, width = draw_size(rng, image_size)
    short = min(height, width)
    cx, cy = width / 2.0, height / 2.0
    bh, bw = int(height * 1.6), int(width * 1.6)
    layers = [make_background_layer(rng, bh, bw, photos)]
    view = similarity(cx, cy, rng.uniform(-0.3, 0.3), float(np.exp(rng.uniform(-0.2, 0.2))))
    poses1 = [view @ similarity(-bw / 2.0, -bh / 2.0, 0.0)]
    strength = float(rng.uniform(0.0, 1.0))
    background_motion = _random_motion(rng, cx, cy, 3.0 * strength, 0.03 * strength, 0.02 * short * strength)
    poses2 = [background_motion @ poses1[0]]
    for _ in range(int(rng.integers(3, 9))):
        label = int(rng.integers(len(SHAPE_CLASSES)))
        size = short * float(np.exp(rng.uniform(np.log(0.1), np.log(0.4))))
        w, h = draw_object_size(rng, SHAPE_CLASSES[label], size)
        layers.append(make_object_layer(rng, label, w, h, photos))
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        pose = similarity(x, y, rng.uniform(0, 2 * np.pi))
        poses1.append(pose)
        poses2.append(background_motion @ _random_motion(rng, x, y, 12.0 * strength, 0.08 * strength,
                                                         0.05 * short * strength) @ pose)
    canvas1, owner1 = render_layers((height, width), layers, poses1)
    canvas2, owner2 = render_layers((height, width), layers, poses2)
    camera = sample_photometric(rng, strength=0.6, allow_motion_blur=False)
    # rendered data like FlyingChairs: light sensor noise only, so the photometric error stays small
    camera = replace(camera, noise_sigma=camera.noise_sigma * 0.3, shot_noise=camera.shot_noise * 0.3)
    img1 = apply_photometric(canvas1, camera, sub_rng(seed, FLOW_PAIRS_KEY, index, 1))
    img2 = apply_photometric(canvas2, camera, sub_rng(seed, FLOW_PAIRS_KEY, index, 2))
    flow = layer_flow(owner1, poses1, poses2)
    return FlowPair(img1, img2, flow, valid_flow(flow, owner1, owner2))


def is_val_pair(index: int, val_fraction: float) -> bool:
    """Spread validation pairs evenly: pair i is val when floor((i+1)f) > floor(i f)."""
    return int(np.floor((index + 1) * val_fraction)) > int(np.floor(index * val_fraction))


def generate_flow_pairs(
    out_dir: str | os.PathLike,
    num_pairs: int = 200,
    image_size: SizeSpec = (384, 512),
    seed: int = 0,
    texture_dir: str | os.PathLike | None = None,
    val_fraction: float = 0.1,
    progress: bool = True,
) -> dict[str, Path]:
    """Write a FlyingChairs-style set and return where everything went.

    Layout: ``out_dir/data/NNNNN_img1.ppm``, ``NNNNN_img2.ppm``, ``NNNNN_flow.flo`` (ids from
    00001) and ``out_dir/FlyingChairs_train_val.txt`` (line i: 1 = train, 2 = val for pair i).
    Flow is in pixels with img1(p) ~ img2(p + flow(p)). Returns keys ``root``, ``data``,
    ``split_file``.
    """
    if num_pairs < 0:
        raise ValueError(f"num_pairs must be >= 0, got {num_pairs}")
    if not 0.0 <= val_fraction <= 1.0:
        raise ValueError(f"val_fraction must be in [0, 1], got {val_fraction}")
    photos, _ = load_photos(texture_dir)
    root = Path(out_dir)
    data_dir = root / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    lines = []
    for index in tqdm(range(num_pairs), desc="synth flow pairs", disable=not progress, unit="pair"):
        pair = generate_flow_pair(seed, index, image_size, photos)
        stem = f"{index + 1:05d}"
        write_image(data_dir / f"{stem}_img1.ppm", pair.img1)
        write_image(data_dir / f"{stem}_img2.ppm", pair.img2)
        write_flo(data_dir / f"{stem}_flow.flo", pair.flow)
        lines.append("2" if is_val_pair(index, val_fraction) else "1")
    split_file = root / SPLIT_FILE
    split_file.write_text("".join(line + "\n" for line in lines), encoding="ascii")
    return {"root": root, "data": data_dir, "split_file": split_file}
