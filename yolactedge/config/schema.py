"""Typed model configuration. Plain frozen dataclasses: no global config object anywhere.

A ``ModelConfig`` fully describes a network (and its pre/post-processing), so it is stored inside
our checkpoints and exported engines and a model is rebuilt from one file with no guessing.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

BGR_MEANS = (103.94, 116.78, 123.68)
BGR_STDS = (57.38, 57.12, 58.40)
BACKBONES = ("resnet18", "resnet34", "resnet50", "resnet101", "mobilenetv2")


@dataclass(frozen=True)
class PreprocessConfig:
    """How images become network input; travels inside checkpoints and exported engines."""

    input_size: tuple[int, int] = (550, 550)  # (height, width)
    mean: tuple[float, float, float] = BGR_MEANS  # BGR order
    std: tuple[float, float, float] = BGR_STDS  # BGR order
    to_rgb: bool = True


@dataclass(frozen=True)
class BackboneConfig:
    name: str = "resnet101"
    # Indices of the backbone stages feeding the FPN (C3, C4, C5). ResNet: stages 0..3;
    # MobileNetV2: its 9 ``features`` entries.
    selected_layers: tuple[int, ...] = (1, 2, 3)
    width_mult: float = 1.0  # channel width multiplier (1.0 = the standard network)

    def __post_init__(self) -> None:
        if self.name not in BACKBONES:
            raise ValueError(f"unknown backbone {self.name!r}; choose one of {', '.join(BACKBONES)}")
        if len(self.selected_layers) != 3:
            raise ValueError("selected_layers must name exactly three stages (C3, C4, C5)")


@dataclass(frozen=True)
class FPNConfig:
    num_features: int = 256
    num_downsample: int = 2  # extra levels (P6, P7) made by stride-2 convs


@dataclass(frozen=True)
class ProtoConfig:
    num_prototypes: int = 32  # the original's ``mask_dim``
    channels: int = 256
    num_convs_before_upsample: int = 3


@dataclass(frozen=True)
class AnchorConfig:
    # Pixel side lengths per FPN level (relative to the input size), and aspect ratios per level.
    scales: tuple[tuple[float, ...], ...] = ((24,), (48,), (96,), (192,), (384,))
    aspect_ratios: tuple[float, ...] = (1.0, 0.5, 2.0)
    # The original's "square anchors" backward-compatibility behaviour: h := w, so the three
    # aspect ratios give three square anchors of side s, s/sqrt(2), s*sqrt(2). Checkpoints were
    # trained with it, so it stays on for every original preset.
    square_anchors: bool = True

    @property
    def num_anchors(self) -> int:
        return len(self.scales[0]) * len(self.aspect_ratios)


@dataclass(frozen=True)
class HeadConfig:
    extra_head_convs: int = 1  # the original ``extra_head_net``: 3x3 conv + ReLU before the heads
    semantic_seg: bool = True  # auxiliary semantic segmentation head (training only)


@dataclass(frozen=True)
class PostprocessConfig:
    conf_thresh: float = 0.05  # candidate filter on the max foreground probability
    nms_thresh: float = 0.5
    top_k: int = 200  # candidates per class entering NMS
    max_det: int = 100
    nms: str = "fast"  # "fast" (the original's eval default) or "traditional"
    crop_masks: bool = True
    mask_thresh: float = 0.5
    # Report each detection's box as the tight box of its final mask (the regressed box where the
    # mask is empty). Not the original's; tighter where the box regression is off, e.g. on warped
    # non-keyframes (BENCHMARKS.md).
    box_from_mask: bool = False

    def __post_init__(self) -> None:
        if self.nms not in ("fast", "traditional"):
            raise ValueError(f"nms must be 'fast' or 'traditional', got {self.nms!r}")


FRESH_LEVELS = ("P5", "P4P5")  # warped levels the fresh top can refresh (``FlowConfig.fresh_levels``)
FRESH_LITE_INPUTS = ("c3", "c3+warp")  # what the fixed-width fresh top reads (``FlowConfig.fresh_lite_input``)


@dataclass(frozen=True)
class FlowConfig:
    """Video (temporal redundancy) settings; ``None`` on image-only presets."""

    use_spa: bool = True
    spa_depth: int = 1  # conv layers per SPA level; 1 is the original (ours: more, BENCHMARKS.md)
    # Rebuild a non-keyframe's M3 from the SPA-refined W4 (ours) instead of the raw warped W4 (the
    # original): the prototypes then see the current frame's correction too. Needs SPA.
    p3_from_spa: bool = False
    # Non-keyframes also run this many blocks of the backbone's C4 and C5 stages on their own C3 and
    # gate the shallow M4 and M5 (fresh_levels "P4P5"; "P5": M5 only) into the warped ones (ours,
    # ``model/fresh_top.py``); (0, 0): off, the original.
    fresh_blocks: tuple[int, int] = (0, 0)
    # Or a small fixed-width top of these widths at stride 16 / 32, trained from scratch in stage 3
    # (ours, ``model/fresh_lite.py``): the same module, and cost, on every backbone; (0, 0): off.
    fresh_lite: tuple[int, int] = (0, 0)
    # "c3+warp": the fixed-width top also reads the warped M4/M5 and adds corrections to them (it
    # starts as the warp itself); "c3": it re-derives M4/M5 from C3 alone (measured worse, BENCHMARKS.md).
    fresh_lite_input: str = "c3+warp"
    fresh_levels: str = "P4P5"
    reduce_channels: int = 64
    encode_channels: int = 64
    warp_layers: str = "P4P5"
    keyframe_interval: int = 5
    reuse_prototypes: bool = False  # default of non-keyframe prototype reuse (predict(reuse_prototypes=...))

    def __post_init__(self) -> None:
        if not (isinstance(self.spa_depth, int) and self.spa_depth >= 1):
            raise ValueError(f"flow.spa_depth must be an integer >= 1 (1: the original's SPA), got {self.spa_depth!r}")
        if self.p3_from_spa and not self.use_spa:
            raise ValueError("flow.p3_from_spa rebuilds M3 from the SPA-refined W4: it needs use_spa=True")
        blocks = tuple(self.fresh_blocks)
        if len(blocks) != 2 or not all(isinstance(b, int) and b >= 0 for b in blocks) or (0 in blocks and any(blocks)):
            raise ValueError("flow.fresh_blocks must be two block counts, both >= 1 (blocks of the C4 and C5 "
                             f"stages) or both 0 (off), got {self.fresh_blocks!r}")
        widths = tuple(self.fresh_lite)
        if len(widths) != 2 or not all(isinstance(w, int) and w >= 0 for w in widths) or (0 in widths and any(widths)):
            raise ValueError("flow.fresh_lite must be two channel widths, both >= 1 (stride 16 and 32) or both 0 "
                             f"(off), got {self.fresh_lite!r}")
        if any(blocks) and any(widths):
            raise ValueError("flow.fresh_blocks and flow.fresh_lite are two kinds of fresh top: set one of them")
        if self.fresh_levels not in FRESH_LEVELS:
            raise ValueError(f"flow.fresh_levels must be one of {FRESH_LEVELS}, got {self.fresh_levels!r}")
        if self.fresh_lite_input not in FRESH_LITE_INPUTS:
            raise ValueError(f"flow.fresh_lite_input must be one of {FRESH_LITE_INPUTS}, got {self.fresh_lite_input!r}")

    @property
    def has_fresh_top(self) -> bool:
        """Whether non-keyframes refresh their top levels from their own C3 (either kind)."""
        return any(self.fresh_blocks) or any(self.fresh_lite)


@dataclass(frozen=True)
class ModelConfig:
    name: str
    class_names: tuple[str, ...]
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    fpn: FPNConfig = field(default_factory=FPNConfig)
    proto: ProtoConfig = field(default_factory=ProtoConfig)
    anchors: AnchorConfig = field(default_factory=AnchorConfig)
    head: HeadConfig = field(default_factory=HeadConfig)
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    postprocess: PostprocessConfig = field(default_factory=PostprocessConfig)
    flow: FlowConfig | None = None

    def __post_init__(self) -> None:
        if not self.class_names:
            raise ValueError("class_names must not be empty")
        if len(self.anchors.scales) != 3 + self.fpn.num_downsample:
            raise ValueError(
                f"anchors.scales has {len(self.anchors.scales)} levels but the FPN makes "
                f"{3 + self.fpn.num_downsample} (3 + num_downsample)"
            )

    @property
    def num_classes(self) -> int:
        """Including background (index 0), as the original's ``num_classes``."""
        return len(self.class_names) + 1

    @property
    def input_size(self) -> tuple[int, int]:
        return self.preprocess.input_size

    @property
    def is_video(self) -> bool:
        return self.flow is not None

    def replace(self, **changes: Any) -> "ModelConfig":
        """A copy with top-level fields replaced; nested configs accept dicts of their fields."""
        resolved = {}
        for key, value in changes.items():
            current = getattr(self, key)
            if isinstance(value, dict) and dataclasses.is_dataclass(current):
                value = dataclasses.replace(current, **value)
            elif isinstance(value, dict) and key == "flow" and current is None:
                value = FlowConfig(**value)
            resolved[key] = value
        return dataclasses.replace(self, **resolved)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelConfig":
        """Inverse of ``to_dict`` (lists back to tuples); unknown keys are an error."""
        def build(kind: type, values: dict[str, Any]) -> Any:
            names = {f.name for f in dataclasses.fields(kind)}
            unknown = set(values) - names
            if unknown:
                raise ValueError(f"unknown {kind.__name__} fields in stored config: {sorted(unknown)}")
            return kind(**{k: _tupled(v) for k, v in values.items()})

        nested = {
            "backbone": BackboneConfig, "fpn": FPNConfig, "proto": ProtoConfig,
            "anchors": AnchorConfig, "head": HeadConfig, "preprocess": PreprocessConfig,
            "postprocess": PostprocessConfig, "flow": FlowConfig,
        }
        values = dict(data)
        flow = values.get("flow")
        if flow is not None and "fresh_lite" in flow and "fresh_lite_input" not in flow:
            values["flow"] = {**flow, "fresh_lite_input": "c3"}  # stored before the option: C3 was all it read
        for key, kind in nested.items():
            if values.get(key) is not None:
                values[key] = build(kind, values[key])
        values["class_names"] = tuple(values["class_names"])
        return cls(**values)


def _tupled(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_tupled(v) for v in value)
    return value
