"""Precision plans: presets, group/component items, canonical text, enumeration, errors."""
import pytest

from yolactedge.deploy.precision import PrecisionPlan, PrecisionPlanError, enumerate_plans


def test_presets():
    assert set(dict(PrecisionPlan.parse("int8").groups).values()) == {"int8"}
    assert set(dict(PrecisionPlan.parse("fp16").groups).values()) == {"fp16"}
    cpu = PrecisionPlan.parse("paper", device_kind="cpu")
    gpu = PrecisionPlan.parse("paper", device_kind="gpu")
    for plan, keep in ((cpu, "fp32"), (gpu, "fp16")):
        assert plan.for_component("backbone") == plan.for_component("partial_backbone") == "int8"
        assert plan.for_component("proto") == plan.for_component("flow") == plan.for_component("flow_pre") == "int8"
        assert plan.for_component("fpn_phase_1") == plan.for_component("lateral") == keep
        assert plan.for_component("head") == keep


def test_group_items_and_fpn_covers_laterals():
    plan = PrecisionPlan.parse("backbone=int8,fpn=fp16,proto=int8,head=fp16,flow=int8")
    assert plan.components(["backbone", "fpn_phase_1", "fpn_phase_2", "lateral", "proto", "head", "flow", "transform"]) == {
        "backbone": "int8", "fpn_phase_1": "fp16", "fpn_phase_2": "fp16", "lateral": "fp16", "proto": "int8",
        "head": "fp16", "flow": "int8", "transform": "fp32",  # unlisted groups are FP32
    }


def test_preset_with_overrides_and_component_keys():
    plan = PrecisionPlan.parse("paper, proto=fp16, fpn_phase_2=int8", device_kind="gpu")
    assert plan.for_component("proto") == "fp16"
    assert plan.for_component("fpn_phase_2") == "int8"
    assert plan.for_component("fpn_phase_1") == "fp16"
    assert PrecisionPlan.parse("all=fp16,head=fp32").for_component("head") == "fp32"
    assert PrecisionPlan.parse("HALF").for_component("backbone") == "fp16"  # aliases, case-insensitive


def test_canonical_text_round_trips_and_plans_are_hashable():
    plan = PrecisionPlan.parse("int8,head=fp16,fpn_phase_2=fp32")
    assert PrecisionPlan.parse(str(plan)) == plan
    assert len({plan, PrecisionPlan.parse(str(plan))}) == 1
    # an override equal to its group's precision carries no information
    assert PrecisionPlan.parse("fp16,fpn_phase_1=fp16") == PrecisionPlan.parse("fp16")


def test_needs_calibration():
    names = ["backbone", "fpn_phase_1", "fpn_phase_2", "proto", "head"]
    assert not PrecisionPlan.parse("fp16").needs_calibration(names)
    assert PrecisionPlan.parse("proto=int8").needs_calibration(names)
    assert not PrecisionPlan.parse("flow=int8").needs_calibration(names)  # no flow in an image model


def test_enumerate_plans_for_a_search():
    plans = list(enumerate_plans({"backbone": ["int8", "fp16"], "head": ["fp16", "fp32"]},
                                 base=PrecisionPlan.parse("paper", "gpu")))
    assert len(plans) == 4 and len(set(plans)) == 4
    assert {p.for_component("backbone") for p in plans} == {"int8", "fp16"}
    assert all(p.for_component("proto") == "int8" for p in plans)
    assert PrecisionPlan.parse("int8").replace(fpn="fp16").for_component("lateral") == "fp16"


@pytest.mark.parametrize("text, message", [
    ("bakbone=int8", "unknown key 'bakbone'"),
    ("backbone=int4", "unknown precision 'int4'"),
    ("fastest", "unknown precision preset"),
    ("backbone=int8,paper", "a preset may only come first"),
    ("", "empty precision plan"),
])
def test_errors_name_the_problem(text, message):
    with pytest.raises(PrecisionPlanError, match=message):
        PrecisionPlan.parse(text)
