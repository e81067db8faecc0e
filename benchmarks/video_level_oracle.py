"""Which warped feature level costs the non-keyframes their accuracy: video mAP per keyframe distance
with some outputs of the Partial Feature Transform replaced by the current frame's true features.

    python benchmarks/video_level_oracle.py --model runs/video_recipe/joint/last.pt --data val48 \\
        [--levels normal p4 p5 p4p5 m3] [--max-videos 16] [--json-out level_oracle.json]

The non-keyframe path stays the trained one (flow, scale/bias, SPA), except that after it the chosen
levels are swapped for what the keyframe path computes on the current frame (its phase-1 FPN M3 / M4
/ M5): ``p5`` = a fresh M5 (P5, and P6/P7 made from it), ``p4`` = a fresh M4, ``p4p5`` both, ``m3`` =
a fresh M3 (P3: prototypes and the finest head level). ``normal`` changes nothing. The fresh features
are not free (they need the whole backbone), so this bounds what a better transform of each level
could win back; it is a diagnostic, not a scheme.

Two cheaper candidates are measured the same way (no fine-tuning): ``c4_p5`` warps the keyframe's C4
(stride 16, twice P5's resolution) with the P4-level flow and runs the backbone's last stage and the P5
lateral on it (M5 = lat5(layer4(warp(C4)))); ``c4_p4p5`` also rebuilds M4 = lat4(warp(C4)) + up(M5).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import distance_aps, machine  # noqa: E402

from yolactedge.cli.val_video import load_video_model  # noqa: E402
from yolactedge.data.ytvis import YTVISDataset  # noqa: E402
from yolactedge.eval.video_eval import evaluate_video  # noqa: E402
from yolactedge.model.fpn import resize_bilinear  # noqa: E402
from yolactedge.model.warp import warp  # noqa: E402

SWAPS = {"normal": (), "p4": (1,), "p5": (2,), "p4p5": (1, 2), "m3": (0,), "c4_p5": (2,), "c4_p4p5": (1, 2)}


class LevelOracle:
    """Patches ``model.forward`` / ``model.partial_feature_transform`` on the instance: the
    transform's outputs at ``swap`` indices (0: M3, 1: M4, 2: M5) become the current frame's."""

    def __init__(self, model, swap: tuple[int, ...], from_warped_c4: bool = False) -> None:
        self.model, self.swap, self.x = model, swap, None
        self.from_warped_c4 = from_warped_c4
        self.key_c4: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}  # id(state M5) -> (M5, keyframe C4)
        self.forward, self.transform = model.forward, model.partial_feature_transform
        model.forward = self._forward
        model.partial_feature_transform = self._transform
        self.backbone_forward, self.backbone_out = model.backbone.forward, None
        if from_warped_c4:  # keep the keyframe pass's own C4 instead of running the backbone again
            model.backbone.forward = self._backbone

    def _backbone(self, x):
        self.backbone_out = self.backbone_forward(x)
        return self.backbone_out

    def _forward(self, x, keyframe_state=None, **kwargs):
        self.x = x
        out = self.forward(x, keyframe_state=keyframe_state, **kwargs)
        if self.from_warped_c4 and keyframe_state is None and out.state is not None:
            if len(self.key_c4) > 64:  # the evaluation keeps a few keyframes per video alive
                self.key_c4.pop(next(iter(self.key_c4)))
            self.key_c4[id(out.state.feats[2])] = (out.state.feats[2], self.backbone_out[1])
        return out

    def _transform(self, lateral, state, flows=None, **kwargs):
        if flows is None:
            flows = self.model.estimate_flow(lateral, state)
        feats = list(self.transform(lateral, state, flows, **kwargs))
        if self.from_warped_c4:
            c4 = warp(self.key_c4[id(state.feats[2])][1], flows[-2][0])
            fpn = self.model.fpn_phase_1
            backbone = self.model.backbone
            m5 = fpn.lat_layers[0](backbone.layers[max(backbone.selected_layers)](c4))
            m4 = fpn.lat_layers[1](c4) + resize_bilinear(m5, c4.shape[-2:])
            for i, feat in ((1, m4), (2, m5)):
                if i in self.swap:
                    feats[i] = feat
        elif self.swap:
            fresh, _ = self.model.keyframe_features(self.x)
            for i in self.swap:
                feats[i] = fresh[i]
        return tuple(feats)

    def restore(self) -> None:
        del self.model.forward, self.model.partial_feature_transform
        if self.from_warped_c4:
            del self.model.backbone.forward


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="checkpoint of a video model (stage 3)")
    p.add_argument("--data", required=True, help="YouTube-VIS-format root with val/annotations.json")
    p.add_argument("--levels", nargs="+", choices=list(SWAPS), default=list(SWAPS))
    p.add_argument("--keyframe-interval", type=int, default=5)
    p.add_argument("--max-videos", type=int, default=None)
    p.add_argument("--device", default="auto")
    p.add_argument("--json-out", default=None)
    args = p.parse_args(argv)
    root = Path(args.data) / "val"
    if not (root / "annotations.json").is_file():
        raise SystemExit(f"{root / 'annotations.json'}: not found (pass the root of a YouTube-VIS-format set)")
    model = load_video_model(args.model, None, args.device)
    if not model.is_video:
        raise SystemExit(f"{args.model} is an image model: the level oracle needs a video model")
    dataset = YTVISDataset(root / "JPEGImages", root / "annotations.json")
    print(machine())
    print("| level swapped in fresh | mask AP per distance 0..k-1 | mask gap | box AP per distance | box gap |")
    print("|---|---|---|---|---|")
    report = {}
    for name in args.levels:
        oracle = LevelOracle(model, SWAPS[name], from_warped_c4=name.startswith("c4_"))
        try:
            result = evaluate_video(model, dataset, keyframe_interval=args.keyframe_interval,
                                    max_videos=args.max_videos)
        finally:
            oracle.restore()
        report[name] = g = distance_aps(result, args.keyframe_interval)
        print(f"| {name} | {' / '.join(f'{a:.1f}' for a in g['mask']['per_distance'])} | {g['mask']['drop']:+.1f} | "
              f"{' / '.join(f'{a:.1f}' for a in g['box']['per_distance'])} | {g['box']['drop']:+.1f} |", flush=True)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
