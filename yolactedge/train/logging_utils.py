"""Training logs on disk: CSV (always), TensorBoard (if installed), a PNG of the curves (matplotlib).

CSV files are the source of truth: a resumed run drops the rows at or after its start iteration,
so the curves of an interrupted + resumed run equal those of an uninterrupted one.
"""
from __future__ import annotations

import csv
import logging
import math
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

log = logging.getLogger(__name__)

LOSS_FIELDS = ("iteration", "epoch", "lr", "box", "class", "mask", "semantic", "total", "seconds")
METRIC_FIELDS = ("iteration", "epoch", "box_AP", "box_AP50", "box_AP75", "mask_AP", "mask_AP50", "mask_AP75",
                 "images", "seconds")


class CsvLog:
    """Append-only CSV with a fixed header; ``start_iteration`` truncates a previous run's tail."""

    def __init__(self, path: str | os.PathLike, fields: Sequence[str], start_iteration: int | None = None) -> None:
        self.path = Path(path)
        self.fields = tuple(fields)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        kept: list[dict[str, str]] = []
        if start_iteration is not None and self.path.is_file():
            kept = [row for row in read_csv(self.path) if _int(row.get("iteration")) < start_iteration]
        with open(self.path, "w", newline="") as handle:
            writer = csv.DictWriter(handle, self.fields, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(kept)

    def write(self, row: Mapping[str, Any]) -> None:
        with open(self.path, "a", newline="") as handle:
            csv.DictWriter(handle, self.fields, extrasaction="ignore").writerow(
                {k: _fmt(row.get(k, "")) for k in self.fields})


def _fmt(value: Any) -> Any:
    if isinstance(value, float):
        return f"{value:.6g}"
    return value


def _int(value: Any) -> int:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return -1


def read_csv(path: str | os.PathLike) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def column(rows: Sequence[Mapping[str, str]], name: str) -> list[float]:
    out = []
    for row in rows:
        try:
            out.append(float(row[name]))
        except (KeyError, TypeError, ValueError):
            out.append(math.nan)
    return out


class TensorBoardLog:
    """Scalars to ``out_dir/tb``; a no-op (with one log line) when tensorboard is not installed."""

    def __init__(self, log_dir: str | os.PathLike, enabled: bool = True, purge_step: int | None = None) -> None:
        self.writer = None
        if not enabled:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            log.info("tensorboard is not installed: TensorBoard logging off (pip install tensorboard)")
            return
        self.writer = SummaryWriter(str(log_dir), purge_step=purge_step)

    def scalars(self, values: Mapping[str, float], step: int, prefix: str) -> None:
        if self.writer is None:
            return
        for name, value in values.items():
            if isinstance(value, (int, float)) and math.isfinite(value):
                self.writer.add_scalar(f"{prefix}/{name}", value, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _smooth(values: list[float], window: int) -> list[float]:
    """Trailing moving average ignoring non-finite entries (skipped steps)."""
    out, buf = [], []
    for v in values:
        if math.isfinite(v):
            buf.append(v)
            buf = buf[-window:]
        out.append(sum(buf) / len(buf) if buf else math.nan)
    return out


def plot_curves(losses_csv: str | os.PathLike, metrics_csv: str | os.PathLike | None,
                out_png: str | os.PathLike) -> Path | None:
    """Loss components (smoothed), learning rate and validation mAP in one PNG; None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=True)
        import matplotlib.pyplot as plt
    except ImportError:
        log.info("matplotlib is not installed: no loss plot (pip install matplotlib)")
        return None
    rows = read_csv(losses_csv) if Path(losses_csv).is_file() else []
    metrics = read_csv(metrics_csv) if metrics_csv and Path(metrics_csv).is_file() else []
    panels = 3 if metrics else 2
    fig, axes = plt.subplots(panels, 1, figsize=(8, 3 * panels), sharex=True)
    its = column(rows, "iteration")
    window = max(1, len(rows) // 50)
    for name in ("total", "box", "class", "mask", "semantic"):
        axes[0].plot(its, _smooth(column(rows, name), window), label=name, linewidth=1.5 if name == "total" else 1)
    axes[0].set_ylabel("loss")
    axes[0].set_yscale("log")
    axes[0].legend(loc="upper right", fontsize=8)
    axes[0].grid(alpha=0.3)
    axes[1].plot(its, column(rows, "lr"), color="black")
    axes[1].set_ylabel("learning rate")
    axes[1].grid(alpha=0.3)
    if metrics:
        m_its = column(metrics, "iteration")
        for name in ("box_AP", "mask_AP"):
            axes[2].plot(m_its, column(metrics, name), marker="o", label=name)
        axes[2].set_ylabel("val mAP")
        axes[2].legend(loc="lower right", fontsize=8)
        axes[2].grid(alpha=0.3)
    axes[-1].set_xlabel("iteration")
    fig.tight_layout()
    out = Path(out_png)
    tmp = out.with_name(f".{out.name}.tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, out)  # a viewer never sees a half-written file
    return out


def open_run_logs(out_dir: Path, loss_fields, metric_fields, iteration: int, tensorboard: bool):
    """The CSV/TensorBoard logs of a run, continued at ``iteration`` (a resumed run appends, never duplicates).

    A validation row carries the iteration count it ran after, which the checkpoint already includes.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    return (CsvLog(out_dir / "losses.csv", loss_fields, start_iteration=iteration),
            CsvLog(out_dir / "metrics.csv", metric_fields, start_iteration=iteration + 1),
            TensorBoardLog(out_dir / "tb", tensorboard, purge_step=iteration or None))
