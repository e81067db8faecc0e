"""--auto-precision: the plan selection and the greedy search on fabricated numbers, then one real
search + export through the CLI on a tiny model and a generated COCO dataset."""
import contextlib
import io
import json
import math

import pytest

from yolactedge.checkpoints import save_checkpoint
from yolactedge.cli.main import main
from yolactedge.deploy.auto_precision import (
    TIE_REL, Candidate, PlanRow, Score, rows_for, search_candidates, search_groups, select_plan,
)
from yolactedge.deploy.load import load_engine
from yolactedge.deploy.metadata import read_manifest
from yolactedge.deploy.precision import PrecisionPlan

from deploy_helpers import seeded_model, small_config, tiny_config

IMAGE_GROUPS = ["backbone", "fpn", "proto", "head"]


# -- selection -------------------------------------------------------------------------------------------
def _row(name: str, drop: float, ms: float) -> PlanRow:
    return PlanRow(name, PrecisionPlan.parse("fp32"), {}, 30.0 - drop, 32.0, drop, ms)


def test_selects_the_fastest_plan_within_budget():
    rows = [_row("fp32", 0.0, 100), _row("int8", 2.5, 30), _row("paper", 0.8, 50), _row("g1", 1.0, 45),
            _row("g2", 0.2, 70)]
    assert select_plan(rows, 1.0).name == "g1"  # a drop equal to the budget is within it
    assert select_plan(rows, 3.0).name == "int8"
    assert select_plan(rows, 0.5).name == "g2"


def test_only_fp32_within_budget_selects_fp32():
    rows = [_row("fp32", 0.0, 100), _row("int8", 4.0, 30), _row("paper", 1.5, 50)]
    assert select_plan(rows, 1.0).name == "fp32"
    assert select_plan(rows, 0.0).name == "fp32"


def test_ties_go_to_the_more_accurate_plan():
    # within TIE_REL of the fastest: timing noise, accuracy decides
    rows = [_row("fp32", 0.0, 100), _row("a", 0.9, 50.0), _row("b", 0.3, 50.0 * (1 + TIE_REL / 2))]
    assert select_plan(rows, 1.0).name == "b"
    # beyond the tie band the faster one wins even if less accurate
    rows[2] = _row("b", 0.3, 50.0 * (1 + 3 * TIE_REL))
    assert select_plan(rows, 1.0).name == "a"
    # identical numbers: the earlier row
    rows = [_row("fp32", 0.0, 40.0), _row("same", 0.0, 40.0)]
    assert select_plan(rows, 1.0).name == "fp32"
    assert select_plan(rows, 1.0, tie_rel=0.0).name == "fp32"


def test_rows_measure_drop_and_speedup_against_fp32():
    fp32, int8 = PrecisionPlan.parse("fp32"), PrecisionPlan.parse("int8")
    candidates = [Candidate("fp32", fp32, Score(20.0, 25.0)), Candidate("int8", int8, Score(19.5, 24.0))]
    rows = rows_for(candidates, {fp32: 80.0, int8: 20.0}, IMAGE_GROUPS, max_drop=1.0)
    assert rows[0].drop == 0 and rows[0].speedup == 1.0
    assert rows[1].drop == pytest.approx(0.5) and rows[1].speedup == pytest.approx(4.0)
    assert [r.chosen for r in rows] == [False, True]
    assert rows[1].groups == {g: "int8" for g in IMAGE_GROUPS}
    assert not rows_for(candidates, {fp32: 80.0, int8: 20.0}, IMAGE_GROUPS, max_drop=0.4)[1].chosen


# -- search ----------------------------------------------------------------------------------------------
class _FakeEval:
    """mask AP = 30 minus an additive cost per INT8 group; records every plan it is asked about."""

    def __init__(self, cost: dict[str, float]):
        self.cost, self.calls = cost, []

    def __call__(self, plan: PrecisionPlan) -> Score:
        self.calls.append(plan)
        drop = sum(c for g, c in self.cost.items() if plan.group(g) == "int8")
        return Score(30.0 - drop, 33.0 - drop)


GAINS = {"backbone": 10.0, "head": 3.0, "fpn": 2.0, "proto": 1.0}


def test_int8_within_budget_needs_no_greedy_walk():
    evaluate = _FakeEval({"backbone": 0.2, "fpn": 0.2, "proto": 0.1, "head": 0.1})
    tried = search_candidates(IMAGE_GROUPS, GAINS, evaluate, max_drop=1.0, max_candidates=8)
    assert [c.name for c in tried] == ["fp32", "int8", "paper"]
    assert len(evaluate.calls) == len(set(evaluate.calls)) == 3  # each distinct plan scored once


def test_greedy_demotes_in_order_of_gain_while_within_budget():
    evaluate = _FakeEval({"backbone": 0.3, "proto": 0.2, "fpn": 0.8, "head": 0.4})
    tried = search_candidates(IMAGE_GROUPS, GAINS, evaluate, max_drop=1.0, max_candidates=8)
    # int8 (1.7) fails; "every group that gains" is int8 again (cached); then backbone, +head, +fpn (1.5:
    # reverted), +proto
    assert [c.name for c in tried] == ["fp32", "int8", "paper", "greedy-1", "greedy-2", "greedy-3", "greedy-4"]
    assert len(evaluate.calls) == 7
    last = tried[-1].plan
    assert {g: last.group(g) for g in IMAGE_GROUPS} == {"backbone": "int8", "fpn": "fp32", "proto": "int8",
                                                        "head": "int8"}
    assert tried[-1].score.mask_ap == pytest.approx(29.1)
    assert tried[5].plan.group("fpn") == "int8" and tried[5].score.mask_ap == pytest.approx(28.5)


def test_search_is_bounded_and_skips_groups_without_gain():
    evaluate = _FakeEval({"backbone": 0.3, "proto": 0.2, "fpn": 0.8, "head": 0.4})
    tried = search_candidates(IMAGE_GROUPS, GAINS, evaluate, max_drop=1.0, max_candidates=4)
    assert len(tried) == len(evaluate.calls) == 4
    evaluate = _FakeEval({"backbone": 0.3, "proto": 0.2, "fpn": 0.8, "head": 0.4})
    gains = {**GAINS, "head": -0.5, "proto": 0.0}  # INT8 slower or no faster: never demoted by the walk
    tried = search_candidates(IMAGE_GROUPS, gains, evaluate, max_drop=1.0, max_candidates=8)
    greedy = [c.plan for c in tried if c.name.startswith("greedy")]
    assert greedy and all(p.group("head") == "fp32" and p.group("proto") == "fp32" for p in greedy)


def test_fp16_only_on_gpu_and_video_groups():
    evaluate = _FakeEval({"backbone": 2.0})
    cpu = search_candidates(IMAGE_GROUPS, GAINS, evaluate, max_drop=1.0, max_candidates=8)
    assert all("fp16" not in str(c.plan) for c in cpu)
    gpu = search_candidates(IMAGE_GROUPS, GAINS, _FakeEval({"backbone": 2.0}), max_drop=1.0, max_candidates=8,
                            device_kind="gpu")
    assert [c.name for c in gpu][:4] == ["fp32", "fp16", "int8", "paper"]
    assert gpu[3].plan.group("head") == "fp16"
    # greedy starts from fp16 on GPU: backbone (over budget alone) stays fp16, the rest goes int8
    assert {g: gpu[-1].plan.group(g) for g in IMAGE_GROUPS} == {"backbone": "fp16", "fpn": "int8", "proto": "int8",
                                                                "head": "int8"}
    assert search_groups(tiny_config((96, 128))) == IMAGE_GROUPS
    assert search_groups(tiny_config((96, 128), video=True)) == [*IMAGE_GROUPS, "flow", "transform"]


# -- end to end ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def auto_export(tmp_path_factory):
    from yolactedge.data.synth import CLASS_NAMES, generate_image_dataset

    root = tmp_path_factory.mktemp("auto-precision")
    generate_image_dataset(root / "data", num_train=3, num_val=3, image_size=(96, 128), seed=2, progress=False)
    config = small_config("yolact_edge_resnet18_config", (96, 128), CLASS_NAMES)
    save_checkpoint(root / "tiny.pt", seeded_model(config, realistic_bn=True), config)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(["export", "--model", str(root / "tiny.pt"), "--out", str(root / "out"), "--auto-precision",
                   "--data", str(root / "data"), "--val-count", "3", "--calib-count", "3", "--max-map-drop", "1.0",
                   "--max-candidates", "5", "--calib-cache", str(root / "cache"), "--exporter", "torchscript"])
    assert rc == 0, out.getvalue()
    return root / "out", out.getvalue()


def test_cli_search_prints_the_table_and_exports_the_chosen_plan(auto_export):
    folder, stdout = auto_export
    manifest = read_manifest(folder)
    record = manifest["auto_precision"]
    assert json.loads((folder / record["file"]).read_text()) == record
    rows = record["rows"]
    assert 3 <= len(rows) <= 5 and rows[0]["name"] == "fp32"
    assert rows[0]["drop"] == 0 and rows[0]["speedup"] == 1.0
    assert [r["name"] for r in rows[1:3]] == ["int8", "paper"]
    assert all(r["latency_ms"] > 0 and math.isfinite(r["mask_ap"]) and "fp16" not in r["plan"] for r in rows)
    assert record["groups"] == IMAGE_GROUPS and record["val_images"] == 3
    chosen = [r for r in rows if r["chosen"]]
    assert len(chosen) == 1 and chosen[0]["name"] == record["chosen"]
    within = [r for r in rows if r["drop"] <= 1.0]
    assert chosen[0]["drop"] <= 1.0
    assert chosen[0]["latency_ms"] <= min(r["latency_ms"] for r in within) * (1 + TIE_REL)
    # the folder is the chosen plan, checked and loadable
    assert manifest["precision_plan"] == record["plan"]
    plan = PrecisionPlan.parse(record["plan"])
    engine = load_engine(folder, device="cpu")
    assert engine.precision == {n: plan.for_component(n) for n in engine.precision}
    # the table, the pool's calibration reused by the final export
    assert "auto-precision on onnxruntime" in stdout and "mask AP" in stdout and "speed-up" in stdout
    assert any(line.startswith(f"* {record['chosen']}") for line in stdout.splitlines())
    assert "no fp16: CPUs have no fast FP16 kernels" in stdout
    assert stdout.count("features collected") == 1  # one calibration per component, shared by every plan
    if plan.needs_calibration(list(engine.precision)):
        assert "calibration: cache hit" in stdout


def test_auto_precision_without_data_is_a_clear_error(tmp_path, capsys):
    rc = main(["export", "--out", str(tmp_path / "out"), "--auto-precision"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "--auto-precision needs a labelled validation set" in err and "--data" in err
    assert not (tmp_path / "out").exists()
    rc = main(["export", "--out", str(tmp_path / "out"), "--auto-precision", "--data", str(tmp_path),
               "--precision", "paper"])
    assert rc == 2 and "exclude each other" in capsys.readouterr().err
