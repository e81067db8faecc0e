"""Box and mask mAP of a model on a COCO-format dataset (used by the trainer and ``yolactedge val``).

Same pipeline as prediction (eval transform -> network -> ``detect`` -> ``postprocess``) with
the mAP protocol: at most 100 detections per image and no user score threshold. The candidate
filter inside ``detect`` stays at the config's ``conf_thresh`` (0.05, the original's evaluation
setting), so numbers are comparable with the original's; pass ``conf_thresh=0`` to drop it.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from yolactedge.runtime.progress import progress as progress_bar
from yolactedge.config.schema import ModelConfig
from yolactedge.data.augment import eval_transform
from yolactedge.eval.coco_eval import Evaluator
from yolactedge.model.outputs import YolactOutput
from yolactedge.ops.detect import detect, postprocess

MAP_MAX_DETS = 100


@dataclass
class ValidationResult:
    metrics: dict[str, dict]  # evaluate_coco output: {"bbox": {...}, "segm": {...}}
    num_images: int
    seconds: float
    evaluator: Evaluator  # holds the COCO result entries (``write_json``)

    @property
    def box_ap(self) -> float:
        return float(self.metrics.get("bbox", {}).get("AP", -1.0))

    @property
    def mask_ap(self) -> float:
        return float(self.metrics.get("segm", {}).get("AP", -1.0))

    def summary(self) -> dict[str, float]:
        """Flat numbers for logs: box_AP, box_AP50, box_AP75, mask_AP, ..."""
        out: dict[str, float] = {}
        for kind, label in (("bbox", "box"), ("segm", "mask")):
            for key in ("AP", "AP50", "AP75"):
                out[f"{label}_{key}"] = float(self.metrics.get(kind, {}).get(key, -1.0))
        return out


def category_ids_for(class_names: Sequence[str], dataset: Any) -> list[int]:
    """Dataset category id of each model class, matched by name (clear error when classes differ)."""
    names = list(dataset.class_names)
    ids = list(dataset.category_ids)
    if list(class_names) == names:
        return ids
    missing = [n for n in class_names if n not in names]
    if missing:
        raise ValueError(f"the model's classes {missing[:5]} are not in the dataset's categories {names[:10]}: "
                         "this model was trained on other classes than this dataset has")
    return [ids[names.index(n)] for n in class_names]


def _runner(model: Any, config: ModelConfig | None, device: torch.device | str | None
            ) -> tuple[Callable[[torch.Tensor], YolactOutput], ModelConfig, Callable[[], None]]:
    """(infer function, config, restore function) for a predictor or an nn.Module."""
    if not isinstance(model, nn.Module):  # a YolactEdge predictor (any backend)
        return model.infer, config or model.config, lambda: None
    module = model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model
    cfg = config or getattr(module, "config", None)
    if cfg is None:
        raise ValueError("pass config=ModelConfig for a module that was not made by build_model")
    dev = torch.device(device) if device is not None else next(module.parameters()).device
    modes = {m: m.training for m in module.modules()}  # restores frozen-BN layouts exactly
    module.eval()

    def infer(batch: torch.Tensor) -> YolactOutput:
        return module(batch.to(dev))

    def restore() -> None:
        for m, mode in modes.items():
            m.training = mode

    return infer, cfg, restore


def _load_image(dataset: Any, index: int) -> np.ndarray:
    loader = getattr(dataset, "load_image", None)
    return loader(index) if loader is not None else dataset[index].image


def _overrides(conf_thresh: float | None, box_from_mask: bool | None) -> dict[str, Any]:
    """Evaluation overrides of ``PostprocessConfig`` fields (None keeps the config's)."""
    pairs = (("conf_thresh", conf_thresh), ("box_from_mask", box_from_mask))
    return {k: v for k, v in pairs if v is not None}


def evaluate_model(
    model: Any, dataset: Any, *, config: ModelConfig | None = None, device: torch.device | str | None = None,
    max_images: int | None = None, batch_size: int = 4, conf_thresh: float | None = None,
    show_progress: bool = True, gt: Any = None, box_from_mask: bool | None = None,
) -> ValidationResult:
    """COCO box and mask mAP of ``model`` (nn.Module from ``build_model``, DDP-wrapped or not, or a
    ``YolactEdge`` predictor) on ``dataset`` (a ``CocoDataset``: ``ann_file``, ``image_ids``,
    ``category_ids``, ``class_names``). ``gt`` overrides the ground truth (path or COCO dict);
    ``box_from_mask`` overrides the config's (``PostprocessConfig.box_from_mask``)."""
    infer, cfg, restore = _runner(model, config, device)
    post = dataclasses.replace(cfg.postprocess, max_det=MAP_MAX_DETS, **_overrides(conf_thresh, box_from_mask))
    evaluator = Evaluator(gt if gt is not None else dataset.ann_file, category_ids_for(cfg.class_names, dataset))
    count = len(dataset) if max_images is None else min(max_images, len(dataset))
    image_ids = dataset.image_ids
    start = time.perf_counter()
    try:
        with torch.inference_mode():
            for first in progress_bar(range(0, count, batch_size), desc="val", enabled=show_progress, unit="batch"):
                indices = range(first, min(first + batch_size, count))
                images = [_load_image(dataset, i) for i in indices]
                batch = torch.from_numpy(np.stack([eval_transform(im, cfg.preprocess) for im in images]))
                out = infer(batch)
                dets = detect(out.loc, out.conf, out.mask, out.priors, post, cfg.input_size)
                for j, (index, image) in enumerate(zip(indices, images)):
                    inst = postprocess(dets[j], out.proto[j], image.shape[:2], post)
                    evaluator.add(image_ids[index], inst.boxes.cpu().numpy(), inst.scores.float().cpu().numpy(),
                                  inst.classes.cpu().numpy(), inst.masks.cpu().numpy())
    finally:
        restore()
    metrics = evaluator.compute()
    return ValidationResult(metrics, count, time.perf_counter() - start, evaluator)
