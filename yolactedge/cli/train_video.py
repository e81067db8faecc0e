"""``yolactedge train-video``: stages 2 and 3 of the video recipe (single process).

    # stage 2: flow network on FlyingChairs pairs, from the stage-1 image model
    yolactedge train-video --stage flow --data FLYINGCHAIRS_ROOT --init runs/stage1/best.pt --out runs/flow
    # stage 3: joint fine-tuning on YouTube-VIS videos (optionally mixed with COCO-format images)
    yolactedge train-video --stage joint --data YTVIS_ROOT --init runs/flow/last.pt --out runs/joint \\
        [--joint-data COCO_ROOT]
    # continue an interrupted run
    yolactedge train-video --resume runs/joint/last.pt

FLYINGCHAIRS_ROOT holds ``FlyingChairs_train_val.txt`` and ``data/`` (``yolactedge synth flow``
writes one); YTVIS_ROOT holds ``train/JPEGImages/`` (every raw frame) + ``train/annotations.json``
and optionally ``val/...`` (``yolactedge synth video``). Stage 1 is an image model trained with
``yolactedge train``; stage 2 adds the flow network to its config. The run length defaults to the
original's (144 epochs of FlyingChairs, 847 of YouTube-VIS): pass --iters or --epochs.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from yolactedge.config.schema import FRESH_LEVELS, FRESH_LITE_INPUTS
from yolactedge.data.errors import DatasetError

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train-video", help="video stages: flow pre-training (2) and joint fine-tuning (3)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--stage", choices=("flow", "joint"), default=None, help="flow (stage 2) or joint (stage 3)")
    p.add_argument("--data", default=None, help="FlyingChairs root (flow) or YouTube-VIS root (joint)")
    p.add_argument("--joint-data", default=None,
                   help="joint: COCO-format root (train/images + train/annotations.json) or annotation file, mixed "
                        "in every iteration; classes matched by name")
    m = p.add_argument_group("model")
    m.add_argument("--init", default=None, help="flow: the stage-1 checkpoint; joint: the stage-2 checkpoint")
    m.add_argument("--config", default=None, help="preset name when --init is an original plain state dict")
    m.add_argument("--imgsz", type=int, nargs="+", default=None, help="input size S or H W (default: the init's)")
    m.add_argument("--no-spa", action="store_true", help="flow: build the minimal video model (no SPA, no W loss)")
    m.add_argument("--spa-depth", type=int, default=None,
                   help="conv layers per SPA level (1: the original; ours: more, see BENCHMARKS.md); at stage 3 "
                        "a stage-2 model's untrained SPA is replaced")
    m.add_argument("--p3-from-spa", action="store_true",
                   help="rebuild a non-keyframe's M3 from the SPA-refined W4 (ours; the original uses the raw "
                        "warped W4), see BENCHMARKS.md")
    m.add_argument("--fresh-blocks", type=int, nargs=2, default=None, metavar=("C4_BLOCKS", "C5_BLOCKS"),
                   help="joint: non-keyframes also run this many blocks of the backbone's C4 and C5 stages on "
                        "their own C3 and gate those M4 and M5 into the warped ones (ours, off by default; e.g. 1 1: "
                        "more accurate, more expensive non-keyframes, BENCHMARKS.md)")
    m.add_argument("--fresh-lite", type=int, nargs=2, default=None, metavar=("W16", "W32"),
                   help="joint: instead of the backbone's blocks, a small residual top of these channel widths at "
                        "stride 16 and 32 that corrects the warped M4/M5, trained from scratch (ours; the same cost "
                        "on every backbone; 128 256: what the recipe uses, BENCHMARKS.md)")
    m.add_argument("--fresh-lite-input", choices=FRESH_LITE_INPUTS, default=None,
                   help="joint, with --fresh-lite: what it reads (default c3+warp: C3 and the warped M4/M5, and it "
                        "adds corrections to the warp; c3: it re-derives M4/M5 from C3 alone, BENCHMARKS.md)")
    m.add_argument("--fresh-levels", choices=FRESH_LEVELS, default=None,
                   help="joint, with --fresh-blocks or --fresh-lite: which warped levels the fresh top refreshes "
                        "(default P4P5)")
    m.add_argument("--finetune", action="store_true",
                   help="joint: re-initialise class heads when the class count differs")
    o = p.add_argument_group("optimisation")
    o.add_argument("--iters", type=int, default=None, help="training length in iterations")
    o.add_argument("--epochs", type=int, default=None, help="training length in epochs (default: the original's)")
    o.add_argument("--batch", type=int, default=None, help="pairs / video samples per iteration (default 8)")
    o.add_argument("--joint-batch", type=int, default=None, help="joint: images per iteration (default --batch)")
    o.add_argument("--lr", type=float, default=None, help="learning rate for a batch of 8 (default 2e-4)")
    o.add_argument("--no-lr-scaling", action="store_true", help="use --lr as is for any batch size")
    o.add_argument("--schedule", choices=("cosine", "step", "constant"), default=None)
    o.add_argument("--warmup-iters", type=int, default=None)
    o.add_argument("--warmup-init", type=float, default=None)
    o.add_argument("--momentum", type=float, default=None)
    o.add_argument("--optimizer", choices=("sgd", "adamw"), default=None)
    o.add_argument("--weight-decay", type=float, default=None)
    o.add_argument("--offset-range", type=int, nargs=2, default=None, metavar=("LO", "HI"),
                   help="joint: reference frame LO..HI raw frames before the annotated one (default 2 5)")
    o.add_argument("--fm-loss", choices=("auto", "cosine", "l2", "none"), default=None,
                   help="joint: feature-matching loss (auto: cosine with SPA, none without)")
    o.add_argument("--fm-alpha", type=float, default=None, help="joint: weight of the feature-matching loss (1)")
    o.add_argument("--warp-alpha", type=float, default=None,
                   help="joint: weight of the detection losses on the warped pass (1, as the original)")
    o.add_argument("--distill-alpha", type=float, default=None,
                   help="joint: weight of the output distillation of the warped pass against the full pass "
                        "(0: off, the original; see BENCHMARKS.md)")
    o.add_argument("--fresh-lr-mult", type=float, default=None,
                   help="joint: the fresh top's lr multiplier (default: 10 with --fresh-lite, trained from scratch; "
                        "1 with --fresh-blocks)")
    o.add_argument("--fresh-warmup", type=int, default=None, metavar="ITERS",
                   help="joint: train the fresh top alone on single frames (imitating the network's M4/M5) for "
                        "this many iterations first (default: 3000 with --fresh-lite, 0 with --fresh-blocks)")
    o.add_argument("--fresh-alpha", type=float, default=None,
                   help="joint, with --fresh-blocks or --fresh-lite: weight of the shallow estimates' own feature "
                        "loss (1)")
    o.add_argument("--no-augment", action="store_true", help="joint: no photometric/crop/mirror augmentation")
    o.add_argument("--seed", type=int, default=None)
    o.add_argument("--max-nonfinite", type=int, default=None)
    o.add_argument("--amp", choices=("off", "bf16"), default=None,
                   help="bf16: the network in bfloat16 autocast (CUDA, or CPUs with AVX512-BF16/AMX)")
    o.add_argument("--channels-last", action="store_true", help="NHWC memory format (faster on CPU)")
    r = p.add_argument_group("run")
    r.add_argument("--out", default=None, help="output folder (default runs/video-<stage>)")
    r.add_argument("--resume", default=None, help="continue a run from its last.pt / interrupt.pt")
    r.add_argument("--workers", type=int, default=None, help="data-loading processes (default 2)")
    r.add_argument("--device", default="auto")
    r.add_argument("--save-every", type=int, default=None, help="iterations between last.pt writes (default 1000)")
    r.add_argument("--val-every", type=int, default=None, help="iterations between validations (0: at the end)")
    r.add_argument("--val-max", type=int, default=None, help="validate on the first N pairs (flow) / videos (joint)")
    r.add_argument("--val-keyframe-interval", type=int, default=None, help="joint validation keyframe interval")
    r.add_argument("--no-tensorboard", action="store_true")
    r.add_argument("--no-plot", action="store_true")
    p.set_defaults(func=run)


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    table = {
        "max_iter": args.iters, "epochs": args.epochs, "batch_size": args.batch, "joint_batch_size": args.joint_batch,
        "lr": args.lr, "schedule": args.schedule, "warmup_iters": args.warmup_iters, "warmup_init": args.warmup_init,
        "momentum": args.momentum, "optimizer": args.optimizer, "weight_decay": args.weight_decay,
        "offset_range": tuple(args.offset_range) if args.offset_range else None, "fm_loss": args.fm_loss,
        "fm_alpha": args.fm_alpha, "warp_alpha": args.warp_alpha, "distill_alpha": args.distill_alpha,
        "fresh_alpha": args.fresh_alpha,
        "fresh_lr_mult": args.fresh_lr_mult, "fresh_warmup_iters": args.fresh_warmup,
        "seed": args.seed, "max_nonfinite": args.max_nonfinite, "out_dir": args.out,
        "num_workers": args.workers, "save_every": args.save_every, "val_every": args.val_every,
        "val_max_items": args.val_max, "val_keyframe_interval": args.val_keyframe_interval, "init": args.init,
        "init_config": args.config, "amp": args.amp,
    }
    out = {k: v for k, v in table.items() if v is not None}
    flags = {"lr_scaling": (args.no_lr_scaling, False), "finetune": (args.finetune, True),
             "tensorboard": (args.no_tensorboard, False), "plot": (args.no_plot, False),
             "channels_last": (args.channels_last, True)}
    out.update({k: value for k, (given, value) in flags.items() if given})
    if args.no_augment:
        out["augment"] = {"photometric": False, "expand": False, "crop": False, "mirror": False}
    return out


def _imgsz(values: list[int] | None) -> tuple[int, int] | None:
    if not values:
        return None
    if len(values) > 2:
        raise SystemExit(f"--imgsz takes S or H W, got {values}")
    return (values[0], values[0]) if len(values) == 1 else (values[0], values[1])


def flow_datasets(root: str | Path) -> tuple[Any, Any]:
    """(train, val or None) of a FlyingChairs-format root."""
    from yolactedge.data.flyingchairs import FlyingChairsDataset

    train = FlyingChairsDataset(root, "train")
    try:
        val = FlyingChairsDataset(root, "val")
    except DatasetError:
        log.warning("%s lists no val pairs: no EPE report, no best.pt", root)
        val = None
    return train, val


def ytvis_split(root: str | Path, split: str) -> Any:
    """``root/<split>/JPEGImages`` + ``root/<split>/annotations.json`` as a YTVISDataset, or None."""
    from yolactedge.data.ytvis import YTVISDataset

    base = Path(root) / split
    ann = base / "annotations.json"
    if not ann.is_file():
        return None
    return YTVISDataset(base / "JPEGImages", ann)


def video_datasets(root: str | Path) -> tuple[Any, Any]:
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: --data does not exist or is not a folder")
    train = ytvis_split(root, "train")
    if train is None:
        raise DatasetError(f"{root}: expected {root}/train/annotations.json and {root}/train/JPEGImages/ (every raw "
                           "frame), as `yolactedge synth video` writes")
    val = ytvis_split(root, "val")
    if val is None:
        log.warning("%s has no val/annotations.json: no validation mAP, no best.pt", root)
    return train, val


def joint_dataset(spec: str | None, stored: dict | None = None) -> Any:
    """The optional COCO-format image set of stage 3 (``--joint-data`` or the run's stored paths)."""
    from yolactedge.cli.train import resolve_data
    from yolactedge.data.coco import CocoDataset

    if spec:
        chosen = resolve_data(spec, {}).get("train")
        if chosen is None:
            raise DatasetError(f"{spec}: no training split found for --joint-data")
        return CocoDataset(*chosen)
    if stored:
        return CocoDataset(stored["images"], stored["annotations"])
    return None


def _setup_logging() -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)


def run(args: argparse.Namespace) -> int:
    from yolactedge.checkpoints import read_checkpoint
    from yolactedge.train.flow_trainer import FlowTrainer
    from yolactedge.train.trainer import TrainingDiverged
    from yolactedge.train.video_trainer import VideoTrainConfig, VideoTrainer

    _setup_logging()
    overrides = _overrides(args)
    stored: dict[str, Any] = {}
    stage = args.stage
    if args.resume:
        ckpt = read_checkpoint(args.resume)
        state = ckpt.train_state or {}
        if stage is not None and state.get("stage") not in (None, stage):
            raise SystemExit(f"error: {args.resume} is a {state.get('stage')!r} stage run, not {stage!r}")
        stage = state.get("stage")
        stored = (ckpt.metadata or {}).get("data") or {}
    if stage not in ("flow", "joint"):
        raise SystemExit("error: pass --stage flow or --stage joint (or --resume a video run)")
    try:
        VideoTrainConfig().replace(**overrides)
    except (TypeError, ValueError) as exc:
        raise SystemExit(f"error: {exc}") from None
    data = args.data
    if stage == "flow":
        data = data or stored.get("flyingchairs")
        if not data:
            raise DatasetError("no flow data: pass --data FLYINGCHAIRS_ROOT")
        train_set, val_set = flow_datasets(data)
        extra: dict[str, Any] = {}
    else:
        if data:
            train_set, val_set = video_datasets(data)
        elif "train" in stored:
            from yolactedge.data.ytvis import YTVISDataset

            train_set = YTVISDataset(stored["train"]["frames"], stored["train"]["annotations"])
            val_set = YTVISDataset(stored["val"]["frames"], stored["val"]["annotations"]) if "val" in stored else None
        else:
            raise DatasetError("no video data: pass --data YTVIS_ROOT")
        extra = {"joint_set": joint_dataset(args.joint_data, stored.get("joint"))}
    trainer_cls = FlowTrainer if stage == "flow" else VideoTrainer
    try:
        if args.resume:
            from yolactedge.train.video_trainer import RUNTIME_FIELDS

            runtime = {k: v for k, v in overrides.items() if k in (*RUNTIME_FIELDS, "epochs", "max_iter")}
            ignored = sorted(set(overrides) - set(runtime))
            ignored += [flag for flag, given in (("--spa-depth", args.spa_depth is not None),
                                                 ("--no-spa", args.no_spa), ("--p3-from-spa", args.p3_from_spa),
                                                 ("--fresh-blocks", args.fresh_blocks is not None),
                                                 ("--fresh-lite", args.fresh_lite is not None),
                                                 ("--fresh-lite-input", args.fresh_lite_input is not None),
                                                 ("--fresh-levels", args.fresh_levels is not None))
                        if given]
            if ignored:
                log.warning("ignored on --resume (stored in the checkpoint): %s", ", ".join(ignored))
            trainer = trainer_cls.resume(args.resume, train_set, val_set, device=args.device, **runtime, **extra)
        else:
            overrides.setdefault("out_dir", f"runs/video-{stage}")
            config = VideoTrainConfig().replace(**overrides)
            kwargs: dict[str, Any] = {"input_size": _imgsz(args.imgsz), "device": args.device, **extra}
            flow: dict[str, Any] = {}
            if stage == "flow" and args.no_spa:
                flow["use_spa"] = False
            if args.spa_depth is not None:
                if args.spa_depth < 1:
                    raise SystemExit(f"error: --spa-depth must be >= 1, got {args.spa_depth}")
                flow["spa_depth"] = args.spa_depth
            if args.p3_from_spa:
                if args.no_spa:
                    raise SystemExit("error: --p3-from-spa needs SPA (drop --no-spa)")
                flow["p3_from_spa"] = True
            if args.fresh_blocks is not None and args.fresh_lite is not None:
                raise SystemExit("error: --fresh-blocks and --fresh-lite are two kinds of fresh top: pass one")
            if args.fresh_levels is not None and args.fresh_blocks is None and args.fresh_lite is None:
                raise SystemExit("error: --fresh-levels needs --fresh-blocks or --fresh-lite")
            if args.fresh_lite_input is not None and args.fresh_lite is None:
                raise SystemExit("error: --fresh-lite-input needs --fresh-lite")
            if args.fresh_blocks is not None:
                flow["fresh_blocks"] = tuple(args.fresh_blocks)
            if args.fresh_lite is not None:
                flow["fresh_lite"] = tuple(args.fresh_lite)
            if args.fresh_lite_input is not None:
                flow["fresh_lite_input"] = args.fresh_lite_input
            if args.fresh_levels is not None:
                flow["fresh_levels"] = args.fresh_levels
            if flow:
                kwargs["flow"] = flow
            if config.init is None:
                raise SystemExit(f"error: pass --init (the stage-{'1' if stage == 'flow' else '2'} checkpoint)")
            trainer = trainer_cls(config, train_set, val_set, **kwargs)
        result = trainer.train()
    except TrainingDiverged as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(result.message)
    return 0 if result.status == "finished" else 130
