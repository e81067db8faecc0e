"""What warping gets wrong, and evaluation-only changes that might win it back.

    python benchmarks/video_errors.py --model runs/video_recipe/joint/last.pt --data val48 breakdown [--score 0.3]
    python benchmarks/video_errors.py --model M --data val48 variant --score-fusion 0.5
    python benchmarks/video_errors.py --model M --data val48 variant --crop-padding 3
    python benchmarks/video_errors.py --model M --data val48 variant --keyframe-rescoring 0.5

``breakdown``: every annotated frame at least ``--distance`` (default 4) frames into its video is run as a
keyframe and warped from ``distance`` frames earlier; each detection scoring at least ``--score`` is matched
greedily (in score order) by mask IoU >= 0.5 to an unmatched ground-truth object of its class (right), else
counted as a wrong class (IoU >= 0.5 with an object of another class), duplicate (IoU >= 0.5 with an already
matched object), poor localisation (best IoU 0.1-0.5) or background (below 0.1); unmatched objects are missed.

``variant``: ``yolactedge val-video``'s mAP per keyframe distance with one change on non-keyframes (or on
every frame for ``--crop-padding``):
  --score-fusion L   class scores = softmax(L * log p_current + (1 - L) * log p_keyframe), the keyframe's
                     class logits warped per FPN level with the flow net's P4 flow (L = 0: the keyframe's alone)
  --crop-padding P   masks cropped to the box padded by P prototype pixels (the original: 1)
  --keyframe-rescoring W
                     each detection's score = score^(1-W) * e^W, e = the best score of a keyframe detection
                     of its class with box IoU >= 0.3 (0.05 where none; unchanged where no keyframe
                     detection of any class overlaps it: a new object)
(``--box-from-mask`` is a product option: ``yolactedge val-video --box-from-mask``.)
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from yolactedge.cli.val_video import load_video_model
from yolactedge.data.ytvis import YTVISDataset
from yolactedge.eval.video_eval import MAP_MAX_DETS, FrameRunner, annotated_frames, category_ids_for, evaluate_video
from yolactedge.model.fpn import resize_bilinear
from yolactedge.model.warp import warp
from yolactedge.ops.boxes import jaccard
from yolactedge.ops.masks import crop

# the module, not the function of the same name that the package exports
detect_ops = importlib.import_module("yolactedge.ops.detect")
video_eval = importlib.import_module("yolactedge.eval.video_eval")

CATEGORIES = ("right", "wrong_class", "duplicate", "poor_loc", "background", "missed")


def classify(iou: np.ndarray, det_cats: list[int], gt_cats: list[int]) -> Counter:
    """Counts per CATEGORIES for detections (rows of ``iou``, in score order) against ground truth (columns)."""
    counts: Counter = Counter()
    matched: set[int] = set()
    for i, cat in enumerate(det_cats):
        row = iou[i] if iou.size else np.zeros(len(gt_cats))
        same = [j for j in range(len(gt_cats)) if gt_cats[j] == cat and j not in matched and row[j] >= 0.5]
        if same:
            matched.add(max(same, key=lambda j: row[j]))
            counts["right"] += 1
        elif any(row[j] >= 0.5 and gt_cats[j] != cat for j in range(len(gt_cats))):
            counts["wrong_class"] += 1
        elif any(row[j] >= 0.5 for j in matched):
            counts["duplicate"] += 1
        elif len(gt_cats) and row.max() >= 0.1:
            counts["poor_loc"] += 1
        else:
            counts["background"] += 1
    counts["missed"] += len(gt_cats) - len(matched)
    return counts


def breakdown(model, dataset, distance: int, score: float) -> dict[int, Counter]:
    from pycocotools import mask as mask_utils
    from pycocotools.coco import COCO

    from yolactedge.eval.ytvis_eval import frame_image_id, ytvis_to_coco

    cfg = model.config
    coco = COCO()
    coco.dataset = ytvis_to_coco(dataset.ann_file)
    coco.createIndex()
    cat_ids = category_ids_for(tuple(cfg.class_names), dataset)
    post = dataclasses.replace(cfg.postprocess, max_det=MAP_MAX_DETS)
    runner = FrameRunner(model, dataset, cfg, next(model.parameters()).device, False, None)
    stats = {0: Counter(), distance: Counter()}
    with torch.inference_mode():
        for frames in annotated_frames(dataset):
            runner.start_video(frames[0].video_index)
            for frame in frames:
                if frame.number < distance:
                    continue
                gts = coco.loadAnns(coco.getAnnIds(imgIds=[frame_image_id(frame.video_id, frame.position)],
                                                   iscrowd=False))
                gt_rles = [coco.annToRLE(g) for g in gts]
                for d in stats:
                    out = (runner.keyframe(frame.number) if d == 0
                           else runner.non_keyframe(frame.number, frame.number - d))
                    dets = detect_ops.detect(out.loc, out.conf, out.mask, out.priors, post, cfg.input_size)
                    inst = detect_ops.postprocess(dets[0], out.proto[0], runner.image(frame.number).shape[:2], post)
                    scores = inst.scores.float().numpy()
                    keep = np.argsort(-scores, kind="stable")
                    keep = keep[scores[keep] >= score]
                    rles = [mask_utils.encode(np.asfortranarray(m.astype(np.uint8))) for m in inst.masks.numpy()[keep]]
                    iou = (np.asarray(mask_utils.iou(rles, gt_rles, [0] * len(gt_rles)))
                           if rles and gt_rles else np.zeros((len(rles), len(gt_rles))))
                    det_cats = [cat_ids[c] for c in inst.classes.numpy()[keep]]
                    stats[d].update(classify(iou, det_cats, [g["category_id"] for g in gts]))
                    stats[d]["detections"] += len(rles)
                    stats[d]["objects"] += len(gts)
            runner.forget_before(sys.maxsize)
    return stats


def fuse_keyframe_scores(model, weight: float) -> None:
    """Wrap ``model.forward``: non-keyframe class scores fused with the keyframe's warped class logits."""
    forward = model.forward

    def fused(x, keyframe_state=None, **kwargs):
        out = forward(x, keyframe_state=keyframe_state, **kwargs)
        if keyframe_state is None:
            return out
        lateral = model.fpn_phase_1.lateral_c3(model.backbone.forward_partial(x))
        flow4 = model.estimate_flow(lateral, keyframe_state)[-2][0]
        parts = []
        for level, (_, logits, _) in zip(keyframe_state.levels, keyframe_state.head_outputs):
            n, _, c = logits.shape
            h, w = level.shape[-2:]
            grid = logits.reshape(n, h, w, -1).permute(0, 3, 1, 2)
            grid = warp(grid, resize_bilinear(flow4, (h, w)))
            parts.append(grid.permute(0, 2, 3, 1).reshape(n, -1, c))
        key = F.log_softmax(torch.cat(parts, 1), -1)
        current = torch.log(out.conf.clamp_min(1e-8))
        return out._replace(conf=F.softmax(weight * current + (1 - weight) * key, -1))

    model.forward = fused


def rescored(dets, key, weight: float, match_iou: float = 0.3, floor: float = 0.05):
    """``dets`` with scores fused with the keyframe detections' ``key`` (module docstring)."""
    if len(dets) == 0 or len(key) == 0:
        return dets
    overlap = jaccard(dets.boxes, key.boxes) >= match_iou
    same = dets.classes[:, None] == key.classes[None, :]
    evidence = torch.where(overlap & same, key.scores[None, :], torch.zeros_like(key.scores[None, :])).amax(1)
    fused = dets.scores.clamp_min(1e-8) ** (1 - weight) * evidence.clamp_min(floor) ** weight
    scores = torch.where(overlap.any(1), fused, dets.scores)
    return detect_ops.Detections(dets.boxes, dets.coefs, dets.classes, scores)


def rescore_with_keyframe(model, weight: float) -> None:
    """Non-keyframe detections in ``evaluate_video`` rescored with their keyframe's detections, which
    come from the head outputs the keyframe state keeps (same input size, so the same priors)."""
    forward, detect = model.forward, video_eval.detect
    current: dict[str, object] = {}
    key_dets: dict[int, tuple[object, object]] = {}  # id(state) -> (state, its detections)

    def tracked(x, keyframe_state=None, **kwargs):
        current["state"] = keyframe_state
        return forward(x, keyframe_state=keyframe_state, **kwargs)

    def detect_rescored(loc, conf, coefs, priors, config, input_size):
        dets = detect(loc, conf, coefs, priors, config, input_size)
        state = current.get("state")
        if state is None:
            return dets
        if id(state) not in key_dets:
            if len(key_dets) > 8:  # the evaluation keeps at most k keyframes of one video alive
                key_dets.pop(next(iter(key_dets)))
            kloc, klogits, kcoefs = (torch.cat(parts, 1) for parts in zip(*state.head_outputs))
            key_dets[id(state)] = (state, detect(kloc, F.softmax(klogits, -1), kcoefs, priors, config, input_size)[0])
        return [rescored(dets[0], key_dets[id(state)][1], weight)]

    model.forward = tracked
    video_eval.detect = detect_rescored


def pad_crops(padding: float) -> None:
    """Replace the post-processing's mask crop (1 prototype pixel of padding) by one with ``padding``."""
    original = detect_ops.assemble_masks

    def assemble(proto, coefs, boxes, out_size, crop_masks=True, threshold=0.5):
        if coefs.shape[0] == 0 or not crop_masks:
            return original(proto, coefs, boxes, out_size, crop_masks, threshold)
        probs = crop(torch.sigmoid(proto @ coefs.t()), boxes, padding=padding).permute(2, 0, 1)
        probs = F.interpolate(probs.unsqueeze(0), size=out_size, mode="bilinear", align_corners=False).squeeze(0)
        return probs > threshold

    detect_ops.assemble_masks = assemble


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--data", required=True, help="YouTube-VIS-format root with val/annotations.json")
    p.add_argument("--keyframe-interval", type=int, default=5)
    sub = p.add_subparsers(dest="mode", required=True)
    b = sub.add_parser("breakdown")
    b.add_argument("--score", type=float, default=0.3)
    b.add_argument("--distance", type=int, default=4)
    v = sub.add_parser("variant")
    group = v.add_mutually_exclusive_group(required=True)
    group.add_argument("--score-fusion", type=float, metavar="L")
    group.add_argument("--crop-padding", type=float, metavar="P")
    group.add_argument("--keyframe-rescoring", type=float, metavar="W")
    args = p.parse_args(argv)
    root = Path(args.data) / "val"
    if not (root / "annotations.json").is_file():
        raise SystemExit(f"{root / 'annotations.json'}: not found (pass the root of a yolactedge synth video set)")
    model = load_video_model(args.model, None, "auto")
    dataset = YTVISDataset(root / "JPEGImages", root / "annotations.json")
    if args.mode == "breakdown":
        stats = breakdown(model, dataset, args.distance, args.score)
        print(f"detections scoring >= {args.score}, matched by mask IoU >= 0.5")
        print("| distance | objects | detections | " + " | ".join(CATEGORIES) + " |")
        print("|---" * (3 + len(CATEGORIES)) + "|")
        for d, c in stats.items():
            print(f"| {d} | {c['objects']} | {c['detections']} | " + " | ".join(str(c[k]) for k in CATEGORIES) + " |")
        return 0
    if args.score_fusion is not None:
        fuse_keyframe_scores(model, args.score_fusion)
        label = f"score fusion {args.score_fusion:g}"
    elif args.keyframe_rescoring is not None:
        rescore_with_keyframe(model, args.keyframe_rescoring)
        label = f"keyframe rescoring {args.keyframe_rescoring:g}"
    else:
        pad_crops(args.crop_padding)
        label = f"crop padding {args.crop_padding:g}"
    result = evaluate_video(model, dataset, keyframe_interval=args.keyframe_interval, show_progress=True)
    for kind in ("segm", "bbox"):
        ap = [result[d][kind]["AP"] for d in result.distances]
        gap = float(np.mean(ap[1:])) - ap[0] if len(ap) > 1 else 0.0
        print(f"{label} {kind}: AP per distance " + " / ".join(f"{a:.1f}" for a in ap) + f", mean 1-k gap {gap:+.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
