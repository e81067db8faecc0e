"""Per-component precision plans: which part runs in FP32, FP16 or INT8.

A plan maps precision groups (``backbone``, ``fpn`` = both FPN phases + the C3 lateral, ``proto``,
``head``, ``flow`` = flow pre-conv + flow net, ``transform`` = warping + SPA) to a precision, with
optional per-component overrides (``fpn_phase_2=int8``). Plans are values (frozen, hashable,
with a canonical string), so a precision search can enumerate, compare and cache them.

Text form: an optional preset first, then ``key=precision`` items, comma separated:
``paper``, ``int8,head=fp16``, ``backbone=int8,fpn=fp16,proto=int8,head=fp16,flow=int8``.
Groups not mentioned (and without a preset) are FP32.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Iterator, Mapping, Sequence

from yolactedge.deploy.components import COMPONENT_GROUPS, GROUPS

PRECISIONS = ("fp32", "fp16", "int8")
_ALIASES = {
    "fp32": "fp32", "float32": "fp32", "f32": "fp32", "float": "fp32", "full": "fp32",
    "fp16": "fp16", "float16": "fp16", "f16": "fp16", "half": "fp16",
    "int8": "int8", "i8": "int8",
}
PRESETS = ("fp32", "fp16", "int8", "paper")


class PrecisionPlanError(ValueError):
    """A precision plan string or mapping names an unknown group, component or precision."""


def _half(device_kind: str) -> str:
    """FP16 where it is fast (GPU); CPUs have no fast FP16 so the "paper" mix keeps FP32 there."""
    return "fp16" if device_kind == "gpu" else "fp32"


def preset_groups(name: str, device_kind: str = "cpu") -> dict[str, str]:
    """Group precisions of a named preset; ``paper`` = INT8 except FPN, head (and the warping
    transform feeding the FPN), which stay FP16 on GPU / FP32 on CPU, as YolactEdge shipped."""
    if name in ("fp32", "fp16", "int8"):
        return {g: name for g in GROUPS}
    if name == "paper":
        keep = _half(device_kind)
        return {g: (keep if g in ("fpn", "head", "transform") else "int8") for g in GROUPS}
    raise PrecisionPlanError(f"unknown precision preset {name!r}; presets: {', '.join(PRESETS)}")


def _precision(value: str, where: str) -> str:
    key = value.strip().lower()
    if key not in _ALIASES:
        raise PrecisionPlanError(f"unknown precision {value!r} for {where}; use one of {', '.join(PRECISIONS)}")
    return _ALIASES[key]


@dataclass(frozen=True)
class PrecisionPlan:
    """Group precisions plus per-component overrides (both as sorted tuples: hashable, comparable)."""

    groups: tuple[tuple[str, str], ...]
    overrides: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_mapping(cls, groups: Mapping[str, str], overrides: Mapping[str, str] | None = None) -> "PrecisionPlan":
        full = {g: "fp32" for g in GROUPS}
        for key, value in groups.items():
            if key not in GROUPS:
                raise PrecisionPlanError(f"unknown precision group {key!r}; groups: {', '.join(GROUPS)}")
            full[key] = _precision(value, key)
        extra = {}
        for key, value in (overrides or {}).items():
            if key not in COMPONENT_GROUPS:
                raise PrecisionPlanError(f"unknown component {key!r}; components: {', '.join(COMPONENT_GROUPS)}")
            extra[key] = _precision(value, key)
        # An override equal to its group's precision says nothing: drop it so equal plans compare equal.
        extra = {k: v for k, v in extra.items() if v != full[COMPONENT_GROUPS[k]]}
        return cls(tuple(sorted(full.items())), tuple(sorted(extra.items())))

    @classmethod
    def parse(cls, text: "str | PrecisionPlan", device_kind: str = "cpu") -> "PrecisionPlan":
        """``"paper"``, ``"int8,head=fp16"``, ``"backbone=int8,fpn=fp16"`` ... (see module doc).

        ``device_kind`` ("cpu" or "gpu") only matters for the ``paper`` preset.
        """
        if isinstance(text, PrecisionPlan):
            return text
        items = [item.strip() for item in str(text).split(",") if item.strip()]
        if not items:
            raise PrecisionPlanError(f"empty precision plan; use a preset ({', '.join(PRESETS)}) or group=precision items")
        groups: dict[str, str] = {}
        if "=" not in items[0]:
            name = items[0].lower()
            groups = preset_groups(_ALIASES.get(name, name), device_kind)
            items = items[1:]
        overrides: dict[str, str] = {}
        for item in items:
            if "=" not in item:
                raise PrecisionPlanError(
                    f"precision plan item {item!r}: a preset may only come first; later items are key=precision"
                )
            key, value = (part.strip().lower() for part in item.split("=", 1))
            if key in ("all", "default"):
                groups = {g: _precision(value, key) for g in GROUPS}
            elif key in GROUPS:
                groups[key] = _precision(value, key)
            elif key in COMPONENT_GROUPS:
                overrides[key] = _precision(value, key)
            else:
                raise PrecisionPlanError(
                    f"unknown key {key!r} in precision plan {text!r}; groups: {', '.join(GROUPS)}; "
                    f"components: {', '.join(COMPONENT_GROUPS)}"
                )
        return cls.from_mapping(groups, overrides)

    # -- queries ------------------------------------------------------------------------------------
    def group(self, name: str) -> str:
        return dict(self.groups)[name]

    def for_component(self, name: str) -> str:
        overrides = dict(self.overrides)
        if name in overrides:
            return overrides[name]
        if name not in COMPONENT_GROUPS:
            raise PrecisionPlanError(f"unknown component {name!r}")
        return self.group(COMPONENT_GROUPS[name])

    def components(self, names: Sequence[str]) -> dict[str, str]:
        """Precision of each of ``names`` (a config's components)."""
        return {n: self.for_component(n) for n in names}

    def needs_calibration(self, names: Sequence[str]) -> bool:
        return any(self.for_component(n) == "int8" for n in names)

    def replace(self, **changes: str) -> "PrecisionPlan":
        """A copy with groups and/or components changed (for plan searches)."""
        groups, overrides = dict(self.groups), dict(self.overrides)
        for key, value in changes.items():
            if key in GROUPS:
                groups[key] = value
                overrides = {k: v for k, v in overrides.items() if COMPONENT_GROUPS[k] != key}
            else:
                overrides[key] = value
        return PrecisionPlan.from_mapping(groups, overrides)

    def __str__(self) -> str:
        """Canonical text: parses back to an equal plan."""
        return ",".join(f"{k}={v}" for k, v in (*self.groups, *self.overrides))


def enumerate_plans(
    choices: Mapping[str, Sequence[str]], base: PrecisionPlan | None = None
) -> Iterator[PrecisionPlan]:
    """Every plan from the cartesian product of ``choices`` (group or component -> precisions),
    others as in ``base`` (default all FP32). For a later precision search (``--auto-precision``)."""
    base = base or PrecisionPlan.from_mapping({})
    keys = list(choices)
    for key in keys:
        if key not in GROUPS and key not in COMPONENT_GROUPS:
            raise PrecisionPlanError(f"unknown group/component {key!r}")
    for values in itertools.product(*(choices[k] for k in keys)):
        yield base.replace(**{k: _precision(v, k) for k, v in zip(keys, values)})
