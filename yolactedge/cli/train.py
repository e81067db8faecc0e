"""``yolactedge train``: train on a COCO-format dataset (single process or ``torchrun`` DDP).

    yolactedge train --data DATA_ROOT --config yolact_edge_resnet50_config --epochs 12 --batch 8 \\
        --pretrained-backbone resnet50-19c8e357.pth --out runs/exp
    yolactedge train --resume runs/exp/last.pt
    torchrun --nproc_per_node=4 -m yolactedge.cli.main train --data DATA_ROOT ... [--sync-bn]

``--data`` is a dataset root laid out as ``root/{train,val}/{images/,annotations.json}`` (what
``yolactedge synth`` writes), a COCO annotation file (images in ``images/`` beside it), or a
JSON spec ``{"train": {"images": ..., "annotations": ...}, "val": {...}}``. The explicit
``--train-images/--train-ann/--val-images/--val-ann`` win over ``--data``.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

from yolactedge.data.errors import DatasetError

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train", help="train a model on a COCO-format dataset",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_args(p, train=True)
    m = p.add_argument_group("model")
    m.add_argument("--config", default=None,
                   help="architecture: a preset name (default yolact_edge_config) or one of our checkpoints "
                        "(its stored architecture; weights are not loaded, see --init)")
    m.add_argument("--imgsz", type=int, nargs="+", default=None, help="input size: S or H W (default: the preset's)")
    m.add_argument("--backbone", default=None, help="resnet18|resnet34|resnet50|resnet101|mobilenetv2")
    m.add_argument("--width-mult", type=float, default=None,
                   help="backbone channel width multiplier (1.0 = the standard network; the demo preset's 0.5)")
    m.add_argument("--fpn-features", type=int, default=None, help="FPN width (256 in the original)")
    m.add_argument("--proto-channels", type=int, default=None, help="ProtoNet width (256 in the original)")
    m.add_argument("--pretrained-backbone", default=None, help="ImageNet weights file (torchvision format)")
    m.add_argument("--init", default=None, help="start from this checkpoint's weights (ours or an original one)")
    m.add_argument("--finetune", action="store_true",
                   help="with --init: re-initialise the class heads when the class count differs")
    o = p.add_argument_group("optimisation")
    o.add_argument("--epochs", type=int, default=None, help="training length in epochs (default 54)")
    o.add_argument("--iters", type=int, default=None, help="training length in iterations (overrides --epochs)")
    o.add_argument("--batch", type=int, default=None, help="images per process (default 8)")
    o.add_argument("--lr", type=float, default=None,
                   help="learning rate for a global batch of 8 (default 1e-3; scaled linearly, see --no-lr-scaling)")
    o.add_argument("--no-lr-scaling", action="store_true", help="use --lr as is for any global batch")
    o.add_argument("--schedule", choices=("step", "cosine", "constant"), default=None)
    o.add_argument("--lr-steps", type=float, nargs="*", default=None,
                   help="step schedule: fractions of training (< 1) or iterations (default .35 .75 .875 .9375)")
    o.add_argument("--gamma", type=float, default=None)
    o.add_argument("--warmup-iters", type=int, default=None)
    o.add_argument("--warmup-init", type=float, default=None)
    o.add_argument("--momentum", type=float, default=None)
    o.add_argument("--optimizer", choices=("sgd", "adamw"), default=None, help="sgd (the original) or adamw")
    o.add_argument("--weight-decay", type=float, default=None)
    o.add_argument("--amp", choices=("off", "fp16", "bf16"), default=None,
                   help="mixed precision: fp16 or bf16 on CUDA; bf16 on CPUs with AVX512-BF16/AMX (~2x faster "
                        "with --channels-last on this project's Zen 4 machine)")
    o.add_argument("--channels-last", action="store_true", help="NHWC memory format (~1.2x faster on CPU)")
    o.add_argument("--freeze-bn", action="store_true", help="freeze BatchNorm (small batches, pretrained backbone)")
    o.add_argument("--sync-bn", action="store_true", help="DDP: SyncBatchNorm (per-GPU batch < 6)")
    o.add_argument("--max-nonfinite", type=int, default=None, help="stop after N non-finite losses in a row")
    o.add_argument("--no-augment", action="store_true", help="no photometric/expand/crop/mirror augmentation")
    o.add_argument("--no-expand", action="store_true", help="no zoom-out (expand) augmentation (small objects)")
    o.add_argument("--no-crop", action="store_true",
                   help="no SSD random crop (keeps every object at its true scale; for large, varied datasets)")
    o.add_argument("--seed", type=int, default=None)
    r = p.add_argument_group("run")
    r.add_argument("--out", default=None, help="output folder (default runs/train)")
    r.add_argument("--resume", default=None, help="continue a run from its last.pt / interrupt.pt")
    r.add_argument("--workers", type=int, default=None, help="data-loading processes (default 2; 0 = in-process)")
    r.add_argument("--device", default="auto")
    r.add_argument("--save-every", type=int, default=None, help="iterations between last.pt writes (default 1000)")
    r.add_argument("--val-every", default=None,
                   help="validation interval: N epochs, or Nit for iterations (default 1 epoch; 0 = only at the end)")
    r.add_argument("--val-max-images", type=int, default=None, help="validate on the first N images only")
    r.add_argument("--no-tensorboard", action="store_true")
    r.add_argument("--no-plot", action="store_true")
    p.set_defaults(func=run)


def add_data_args(p: argparse.ArgumentParser, train: bool) -> None:
    d = p.add_argument_group("data")
    d.add_argument("--data", default=None, help="dataset root, COCO annotation file, or dataset spec JSON")
    if train:
        d.add_argument("--train-images", default=None)
        d.add_argument("--train-ann", default=None)
    d.add_argument("--val-images", default=None)
    d.add_argument("--val-ann", default=None)


def resolve_data(data: str | None, explicit: dict[str, str | None]) -> dict[str, tuple[Path, Path] | None]:
    """{"train": (images, annotations) | None, "val": ... } from --data and the explicit flags."""
    splits: dict[str, tuple[Path, Path] | None] = {"train": None, "val": None}
    if data:
        root = Path(data)
        if root.is_dir():
            for split in splits:
                ann = root / split / "annotations.json"
                if ann.is_file():
                    splits[split] = (root / split / "images", ann)
            if splits["train"] is None and (root / "annotations.json").is_file():
                splits["train"] = (root / "images", root / "annotations.json")
            if splits["train"] is None and splits["val"] is None:
                raise DatasetError(f"{root}: expected {root}/train/annotations.json (+ train/images/) and optionally "
                                   f"{root}/val/..., as `yolactedge synth` writes; or pass --train-images/--train-ann")
        elif root.is_file():
            splits.update(_from_json(root))
        else:
            raise DatasetError(f"{root}: --data does not exist")
    for split in splits:
        images, ann = explicit.get(f"{split}_images"), explicit.get(f"{split}_ann")
        if ann:
            splits[split] = (Path(images) if images else Path(ann).parent / "images", Path(ann))
        elif images:
            raise DatasetError(f"--{split}-images given without --{split}-ann")
    return splits


def _from_json(path: Path) -> dict[str, tuple[Path, Path] | None]:
    from yolactedge.data.coco import load_json

    spec = load_json(path, "dataset file")
    if "images" in spec:  # a COCO annotation file: training data, images beside it
        return {"train": (path.parent / "images", path)}
    out: dict[str, tuple[Path, Path] | None] = {}
    for split in ("train", "val"):
        entry = spec.get(split)
        if entry is None:
            continue
        if not isinstance(entry, dict) or not {"images", "annotations"} <= entry.keys():
            raise DatasetError(f"{path}: '{split}' must be {{\"images\": DIR, \"annotations\": FILE}}")
        out[split] = (path.parent / entry["images"], path.parent / entry["annotations"])
    if not out:
        raise DatasetError(f"{path}: neither a COCO annotation file ('images') nor a dataset spec ('train'/'val')")
    return out


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    """TrainConfig fields the user set explicitly (unset flags keep defaults / the resumed values)."""
    table = {
        "epochs": args.epochs, "max_iter": args.iters, "batch_size": args.batch, "lr": args.lr,
        "schedule": args.schedule, "gamma": args.gamma, "warmup_iters": args.warmup_iters,
        "warmup_init": args.warmup_init, "momentum": args.momentum, "optimizer": args.optimizer,
        "weight_decay": args.weight_decay,
        "amp": args.amp, "max_nonfinite": args.max_nonfinite, "seed": args.seed, "out_dir": args.out,
        "num_workers": args.workers, "save_every": args.save_every, "val_max_images": args.val_max_images,
        "pretrained_backbone": args.pretrained_backbone, "init": args.init,
        "lr_steps": tuple(args.lr_steps) if args.lr_steps is not None else None,
    }
    out = {k: v for k, v in table.items() if v is not None}
    flags = {"lr_scaling": (args.no_lr_scaling, False), "freeze_bn": (args.freeze_bn, True),
             "sync_bn": (args.sync_bn, True), "finetune": (args.finetune, True),
             "channels_last": (args.channels_last, True),
             "tensorboard": (args.no_tensorboard, False), "plot": (args.no_plot, False)}
    out.update({k: value for k, (given, value) in flags.items() if given})
    if args.no_augment:
        out["augment"] = {"photometric": False, "expand": False, "crop": False, "mirror": False}
    else:
        stages = {"expand": args.no_expand, "crop": args.no_crop}
        if any(stages.values()):
            out["augment"] = {name: False for name, off in stages.items() if off}
    if args.val_every is not None:
        text = str(args.val_every).strip().lower()
        unit = "iter" if text.endswith("it") else "epoch"
        try:
            out["val_every"] = int(text[:-2] if unit == "iter" else text)
        except ValueError:
            raise SystemExit(f"--val-every: expected N (epochs) or Nit (iterations), got {args.val_every!r}") from None
        out["val_unit"] = unit
    return out


def _model_base(config: str | None, init: str | None) -> Any:
    """The architecture to start from: --config (a preset name, or one of our checkpoints' stored
    architecture), else the --init checkpoint's architecture, else the default preset."""
    from yolactedge.checkpoints import CheckpointError, read_checkpoint

    if config is not None:
        return read_checkpoint(config).config if Path(config).is_file() else config
    if init:
        try:
            return read_checkpoint(init).config
        except CheckpointError:  # an original plain state dict carries no architecture
            pass
    return "yolact_edge_config"


def _rank() -> int:
    return int(os.environ.get("RANK", "0"))


def _setup_logging() -> None:
    """INFO on rank 0; other DDP ranks only report problems (their progress is rank 0's)."""
    if not logging.getLogger().handlers:
        level = logging.INFO if _rank() == 0 else logging.WARNING
        logging.basicConfig(level=level, format="%(message)s", stream=sys.stderr)


def run(args: argparse.Namespace) -> int:
    from yolactedge.data.coco import CocoDataset
    from yolactedge.train import ddp
    from yolactedge.train.config import TrainConfig, build_model_config
    from yolactedge.train.trainer import Trainer, TrainingDiverged

    _setup_logging()
    overrides = _overrides(args)
    try:
        TrainConfig().replace(**overrides)  # invalid values: a message, not a traceback
    except (TypeError, ValueError) as exc:
        raise SystemExit(f"error: {exc}") from None
    explicit = {k: getattr(args, k) for k in ("train_images", "train_ann", "val_images", "val_ann")}
    data = args.data
    if args.resume and not data and not any(explicit.values()):
        explicit.update(_stored_data(args.resume))
    splits = resolve_data(data, explicit)
    if splits["train"] is None:
        raise DatasetError("no training data: pass --data ROOT (with train/annotations.json) or --train-ann FILE")
    train_set = CocoDataset(*splits["train"])
    val_set = CocoDataset(*splits["val"]) if splits["val"] is not None else None
    if val_set is None:
        log.warning("no validation split (val/annotations.json or --val-ann): no mAP, no best.pt")
    try:
        if args.resume:
            runtime = {k: v for k, v in overrides.items() if k in _resume_fields()}
            ignored = sorted(set(overrides) - set(runtime))
            if ignored:
                log.warning("ignored on --resume (stored in the checkpoint): %s", ", ".join(ignored))
            trainer = Trainer.resume(args.resume, train_set, val_set, device=args.device, **runtime)
        else:
            config = TrainConfig().replace(**overrides)
            if args.imgsz and len(args.imgsz) > 2:
                raise SystemExit(f"--imgsz takes S or H W, got {args.imgsz}")
            imgsz = (args.imgsz[0] if len(args.imgsz) == 1 else tuple(args.imgsz)) if args.imgsz else None
            arch = build_model_config(_model_base(args.config, config.init), train_set.class_names, imgsz,
                                      args.backbone, args.fpn_features, args.proto_channels,
                                      args.width_mult)
            trainer = Trainer(config, train_set, val_set, arch, device=args.device)
        result = trainer.train()
    except TrainingDiverged as exc:
        if _rank() == 0:
            print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        ddp.cleanup()
    return 0 if result.status == "finished" else 130


def _resume_fields() -> tuple[str, ...]:
    from yolactedge.train.trainer import RUNTIME_FIELDS

    return (*RUNTIME_FIELDS, "epochs", "max_iter")


def _stored_data(checkpoint: str) -> dict[str, str | None]:
    """Dataset paths recorded in a training checkpoint, so `--resume last.pt` alone works."""
    from yolactedge.checkpoints import read_checkpoint

    data = (read_checkpoint(checkpoint).metadata or {}).get("data", {})
    out: dict[str, str | None] = {}
    for split in ("train", "val"):
        if split in data:
            out[f"{split}_images"] = data[split]["images"]
            out[f"{split}_ann"] = data[split]["annotations"]
    if "train" not in data:
        raise DatasetError(f"{checkpoint} does not record its dataset: pass --data as for the original run")
    return out
