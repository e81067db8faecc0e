"""Plain-text tables and JSON dumps of metrics."""
from __future__ import annotations

import json

import numpy as np

from yolactedge.eval import METRIC_NAMES, dump_json, format_by_distance, format_metrics, format_per_class

METRICS = {
    "bbox": {**{k: 10.0 + i for i, k in enumerate(METRIC_NAMES)}, "APs": -1.0,
             "per_class": {"person": 55.5, "a very long class name": 1.25}},
    "segm": {**{k: 5.0 for k in METRIC_NAMES}, "per_class": {"person": 50.0, "a very long class name": -1.0}},
}


def test_metrics_table_is_aligned():
    text = format_metrics(METRICS, title="val")
    lines = text.splitlines()
    assert lines[0] == "val"
    assert len({len(line) for line in lines[1:]}) == 1  # every row as wide as the header
    assert lines[3].startswith("box ") and lines[4].startswith("mask")
    assert "10.00" in lines[3] and "|    - |" in lines[3]  # -1 shows as '-'
    assert all(k in lines[1] for k in METRIC_NAMES)


def test_per_class_and_distance_tables():
    text = format_per_class(METRICS)
    assert "a very long class name" in text and "55.50" in text and "box AP" in text
    summary = {0: METRICS, 1: METRICS, "all": METRICS}
    rows = format_by_distance(summary).splitlines()
    assert [r.split("|")[0].strip() for r in rows[2:]] == ["0", "1", "all"]
    assert len({len(r) for r in rows}) == 1


def test_dump_json_round_trip(tmp_path):
    path = dump_json({0: METRICS, "all": {"bbox": {"AP": np.float64(3.5)}}}, tmp_path / "out" / "m.json")
    data = json.loads(path.read_text())
    assert data["0"]["bbox"]["per_class"]["person"] == 55.5 and data["all"]["bbox"]["AP"] == 3.5
