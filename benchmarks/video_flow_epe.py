"""Flow network end-point error on the synthetic val videos' true motion, per keyframe distance; and
checkpoint variants that tell which part of stage 3 recovers the warped accuracy.

    python benchmarks/video_flow_epe.py --data runs/video_recipe/data_video \\
        --models runs/video_recipe/flow/last.pt runs/video_recipe/joint/last.pt
    # variants for `yolactedge val-video --model VARIANT ...`:
    python benchmarks/video_flow_epe.py --write-variant joint_with_stage2_flow.pt \\
        --base runs/video_recipe/joint/last.pt --flow-from runs/video_recipe/flow/last.pt
    python benchmarks/video_flow_epe.py --write-variant stage2_zero_flow.pt --base runs/video_recipe/flow/last.pt --zero-flow --identity-scale-bias

The val scenes are regenerated as ``yolactedge synth video`` wrote them (``video_oracle_flow.SceneSource``:
seed and size from the annotation file); the exact flow from the annotated frame t to its keyframe t-d is
``layer_flow(owner_t, poses(t), poses(t-d))``, the orientation the flow network predicts. EPE is
``yolactedge.train.flow_trainer.evaluate_flow``'s (pixels of the frame, each level upsampled).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from video_oracle_flow import SceneSource  # noqa: E402

from yolactedge.api.predictor import YolactEdge  # noqa: E402
from yolactedge.data.synth.flow_field import layer_flow  # noqa: E402
from yolactedge.train.flow_trainer import evaluate_flow  # noqa: E402

FLOW_KEYS = ("flow_net.", "flow_net_pre_convs.")


def val_pairs(source: SceneSource, videos: int, every: int, distances: range) -> dict[int, list]:
    """(current frame, keyframe, exact flow current -> keyframe) per distance, every annotated frame t >= every."""
    pairs: dict[int, list] = {d: [] for d in distances}
    for index in range(videos):
        scene = source.scene(index)
        rendered = [source.render(scene, index, t) for t in range(source.num_frames)]
        for t in range(every, source.num_frames, every):
            for d in distances:
                current, owner = rendered[t]
                pairs[d].append((current, rendered[t - d][0], layer_flow(owner, scene.poses(t), scene.poses(t - d))))
    return pairs


def write_variant(base: str, out: str, flow_from: str | None, zero_flow: bool, identity_scale_bias: bool) -> None:
    checkpoint = torch.load(base, map_location="cpu", weights_only=True)
    state = checkpoint["model"]
    if flow_from:
        donor = torch.load(flow_from, map_location="cpu", weights_only=True)["model"]
        for key in state:
            if key.startswith(FLOW_KEYS):
                state[key] = donor[key]
    for key in state:
        if not key.startswith("flow_net.pred"):
            continue
        if zero_flow and key.endswith(".conv.weight"):
            state[key].zero_()
        if identity_scale_bias and (".scale." in key or ".bias." in key):  # scale 1, bias 0 everywhere
            state[key].fill_(1.0 if key.endswith(".scale.bias") else 0.0)
    torch.save(checkpoint, out)
    print(f"wrote {out}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="*", default=[], help="checkpoints with a flow network")
    p.add_argument("--data", default=None, help="a `yolactedge synth video` folder (its val split is used)")
    p.add_argument("--texture-dir", default=None, help="the photos the data was generated with, if any")
    p.add_argument("--videos", type=int, default=12, help="first N val videos")
    p.add_argument("--annotate-every", type=int, default=5)
    p.add_argument("--keyframe-interval", type=int, default=5)
    p.add_argument("--write-variant", default=None, metavar="OUT")
    p.add_argument("--base", default=None)
    p.add_argument("--flow-from", default=None)
    p.add_argument("--zero-flow", action="store_true", help="flow convs zeroed (no motion)")
    p.add_argument("--identity-scale-bias", action="store_true", help="scale maps 1 and bias maps 0")
    args = p.parse_args()
    if args.write_variant:
        if not args.base:
            p.error("--write-variant needs --base")
        write_variant(args.base, args.write_variant, args.flow_from, args.zero_flow, args.identity_scale_bias)
    if not args.models:
        return
    if not args.data:
        p.error("--models needs --data")
    source = SceneSource(Path(args.data) / "val" / "annotations.json", "val", None, args.texture_dir)
    pairs = val_pairs(source, args.videos, args.annotate_every, range(1, args.keyframe_interval))
    for path in args.models:
        model = YolactEdge.load(path, device="cpu", optimize=False)
        print(path)
        for distance, items in pairs.items():
            print(f"  distance {distance}: {evaluate_flow(model.model, items, config=model.config).summary()}")


if __name__ == "__main__":
    main()
