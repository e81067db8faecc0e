"""Plain-text tables and JSON dumps of evaluation metrics, so logs and CI output stay readable."""
from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .coco_eval import METRIC_NAMES

TYPE_LABELS = {"bbox": "box", "segm": "mask"}  # the original's row names


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return "-" if v < 0 or math.isnan(v) else f"{v:.2f}"
    return str(v)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None) -> str:
    """Aligned columns: first column left-aligned (labels), the others right-aligned (numbers)."""
    cells = [[str(h) for h in headers]] + [[_cell(v) for v in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(r: Sequence[str]) -> str:
        return " | ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))

    sep = "-+-".join("-" * w for w in widths)
    out = [line(cells[0]), sep] + [line(r) for r in cells[1:]]
    if title:
        out.insert(0, title)
    return "\n".join(out)


def format_metrics(metrics: Mapping[str, Mapping[str, Any]], names: Sequence[str] = METRIC_NAMES,
                   title: str | None = None) -> str:
    """One row per IoU type (box / mask), one column per metric; '-' marks undefined (-1)."""
    rows = [[TYPE_LABELS.get(t, t)] + [m.get(k, -1.0) for k in names] for t, m in metrics.items()]
    return format_table(["", *names], rows, title)


def format_per_class(metrics: Mapping[str, Mapping[str, Any]], title: str | None = None) -> str:
    """One row per class, one AP column per IoU type."""
    types = [t for t in metrics if "per_class" in metrics[t]]
    classes: list[str] = []
    for t in types:
        classes += [c for c in metrics[t]["per_class"] if c not in classes]
    rows = [[c] + [metrics[t]["per_class"].get(c, -1.0) for t in types] for c in classes]
    return format_table(["class", *(f"{TYPE_LABELS.get(t, t)} AP" for t in types)], rows, title)


def format_by_distance(summary: Mapping[Any, Mapping[str, Mapping[str, Any]]],
                       names: Sequence[str] = ("AP", "AP50", "AP75"), title: str | None = None) -> str:
    """:meth:`FrameEvaluator.summarize` output: one row per keyframe distance (then 'all')."""
    types: list[str] = []
    for m in summary.values():
        types += [t for t in m if t not in types]
    headers = ["distance"] + [f"{TYPE_LABELS.get(t, t)} {k}" for t in types for k in names]
    rows = [[str(d)] + [m.get(t, {}).get(k, -1.0) for t in types for k in names] for d, m in summary.items()]
    return format_table(headers, rows, title)


def to_jsonable(obj: Any) -> Any:
    """Metrics -> plain JSON types (str keys, floats; numpy scalars and arrays unwrapped)."""
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if hasattr(obj, "tolist"):
        return to_jsonable(obj.tolist())
    return obj


def dump_json(metrics: Mapping[Any, Any], path: str | os.PathLike) -> Path:
    """Write metrics as indented JSON (parent folders created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        json.dump(to_jsonable(metrics), f, indent=2)
    return path
