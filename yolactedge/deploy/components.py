"""The network cut into separately exported components (tensor in, tensor out, static shapes).

YolactEdge's speed comes from running each part in the precision it tolerates (INT8 backbone,
FP16 FPN/head...), so every part is its own ONNX file. Each wrapper below takes and returns only
tensors (no lists, dicts or NamedTuples) so exporters and engines see a plain graph. Tensor names
are global across components: a component's input is found by name among what earlier ones
produced (``ComponentPipeline`` routes them), and the keyframe cache enters as ``key_*`` names.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from yolactedge.config.schema import ModelConfig
from yolactedge.model.outputs import KeyframeState

# Precision groups a plan talks about ("fpn" covers both FPN phases and the C3 lateral).
GROUPS = ("backbone", "fpn", "proto", "head", "flow", "transform")


@dataclass(frozen=True)
class ComponentSpec:
    """What one exported file is: its inputs/outputs by name and its precision group.

    ``frames``: which frame types run it ("key", "nonkey" or both) - calibration and parity
    samples for a component come from passes of those types.
    """

    name: str
    group: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    frames: tuple[str, ...]
    video_only: bool = False


def level_names(config: ModelConfig) -> tuple[str, ...]:
    """P3..P7 for the default 2 extra levels; more or fewer with ``fpn.num_downsample``."""
    return tuple(f"p{3 + i}" for i in range(3 + config.fpn.num_downsample))


FLOW_OUTPUTS = ("flow4", "scale4", "bias4", "flow5", "scale5", "bias5")

# Every component name with its precision group, in execution order (keyframe path first).
COMPONENT_GROUPS = {
    "backbone": "backbone", "fpn_phase_1": "fpn", "flow_pre": "flow", "partial_backbone": "backbone",
    "lateral": "fpn", "flow": "flow", "transform": "transform", "fpn_phase_2": "fpn", "proto": "proto",
    "head": "head",
}


def transform_inputs(config: ModelConfig) -> tuple[str, ...]:
    """The transform's inputs; models with a fresh top (``flow.fresh_blocks`` or ``fresh_lite``) also read
    the current frame's C3."""
    names = ("l3", "key_m4", "key_m5", *FLOW_OUTPUTS)
    fresh = config.flow is not None and config.flow.has_fresh_top
    return (*names, "c3") if fresh else names


def component_specs(config: ModelConfig) -> dict[str, ComponentSpec]:
    """Every component the config needs, in execution order."""
    levels = level_names(config)
    both = ("key", "nonkey")
    table = [  # name, inputs, outputs, frames, video only
        ("backbone", ("image",), ("c3", "c4", "c5"), ("key",), False),
        ("fpn_phase_1", ("c3", "c4", "c5"), ("m3", "m4", "m5", "l3"), ("key",), False),
        ("flow_pre", ("l3",), ("flow_features",), ("key",), True),
        ("partial_backbone", ("image",), ("c3",), ("nonkey",), True),
        ("lateral", ("c3",), ("l3",), ("nonkey",), True),
        ("flow", ("l3", "key_flow_features"), FLOW_OUTPUTS, ("nonkey",), True),
        ("transform", transform_inputs(config), ("m3", "m4", "m5"), ("nonkey",), True),
        ("fpn_phase_2", ("m3", "m4", "m5"), levels, both, False),
        ("proto", ("p3",), ("proto",), both, False),
        ("head", levels, ("loc", "conf", "coef"), both, False),
    ]
    return {
        name: ComponentSpec(name, COMPONENT_GROUPS[name], inputs, outputs, frames, video)
        for name, inputs, outputs, frames, video in table
        if config.is_video or not video
    }


# -- wrappers --------------------------------------------------------------------------------------
class BackboneComponent(nn.Module):
    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.backbone = backbone

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(self.backbone(image))


class PartialBackboneComponent(nn.Module):
    """Stem + stages up to C3: all a non-keyframe computes of the backbone."""

    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.backbone = backbone

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.backbone.forward_partial(image)


class LateralComponent(nn.Module):
    def __init__(self, fpn_phase_1: nn.Module):
        super().__init__()
        self.fpn_phase_1 = fpn_phase_1

    def forward(self, c3: torch.Tensor) -> torch.Tensor:
        return self.fpn_phase_1.lateral_c3(c3)


class FPNPhase1Component(nn.Module):
    def __init__(self, fpn_phase_1: nn.Module):
        super().__init__()
        self.fpn_phase_1 = fpn_phase_1

    def forward(self, c3: torch.Tensor, c4: torch.Tensor, c5: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(self.fpn_phase_1(c3, c4, c5))


class FPNPhase2Component(nn.Module):
    def __init__(self, fpn_phase_2: nn.Module):
        super().__init__()
        self.fpn_phase_2 = fpn_phase_2

    def forward(self, m3: torch.Tensor, m4: torch.Tensor, m5: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(self.fpn_phase_2(m3, m4, m5))


class ProtoComponent(nn.Module):
    """P3 -> prototypes in NHWC, the layout ``YolactOutput.proto`` and mask assembly use."""

    def __init__(self, proto_net: nn.Module):
        super().__init__()
        self.proto_net = proto_net

    def forward(self, p3: torch.Tensor) -> torch.Tensor:
        return self.proto_net(p3).permute(0, 2, 3, 1).contiguous()


class HeadComponent(nn.Module):
    """All levels -> (loc, class probabilities, coefficients): softmax inside, as at inference."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, *levels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        loc, conf, coef = self.model.heads(list(levels))
        return loc, F.softmax(conf, -1), coef


class FlowPreComponent(nn.Module):
    """The flow net's pre-conv on a keyframe's L3, cached in the keyframe state (not redone per frame)."""

    def __init__(self, pre_convs: nn.Module):
        super().__init__()
        self.pre_convs = pre_convs

    def forward(self, l3: torch.Tensor) -> torch.Tensor:
        return self.pre_convs(l3)


class FlowComponent(nn.Module):
    """Current L3 + cached keyframe pre-conv features -> P4/P5 (flow, scale, bias); no level-1 branch."""

    def __init__(self, pre_convs: nn.Module, flow_net: nn.Module):
        super().__init__()
        self.pre_convs = pre_convs
        self.flow_net = flow_net

    def forward(self, l3: torch.Tensor, key_flow_features: torch.Tensor) -> tuple[torch.Tensor, ...]:
        (f4, s4, b4), (f5, s5, b5) = self.flow_net(self.pre_convs(l3), key_flow_features, with_level1=False)
        return f4, s4, b4, f5, s5, b5


class TransformComponent(nn.Module):
    """Warp the keyframe's M4/M5, rebuild M3 from the current L3, refine with SPA (if present) and
    the fresh top levels (if present: then ``c3``, the current frame's, is the last input).

    Reuses ``Yolact.partial_feature_transform`` so the export cannot drift from the model;
    M3 of the keyframe is never read there, hence the placeholder.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, l3, key_m4, key_m5, flow4, scale4, bias4, flow5, scale5, bias5,
                c3=None) -> tuple[torch.Tensor, ...]:
        state = KeyframeState(feats=(key_m4, key_m4, key_m5), lateral=l3)
        flows = [(flow4, scale4, bias4), (flow5, scale5, bias5)]
        return tuple(self.model.partial_feature_transform(l3, state, flows, c3=c3))


def build_component(model: nn.Module, name: str) -> nn.Module:
    """The export wrapper of component ``name`` around ``model``'s own submodules (weights shared)."""
    builders = {
        "backbone": lambda: BackboneComponent(model.backbone),
        "partial_backbone": lambda: PartialBackboneComponent(model.backbone),
        "lateral": lambda: LateralComponent(model.fpn_phase_1),
        "fpn_phase_1": lambda: FPNPhase1Component(model.fpn_phase_1),
        "fpn_phase_2": lambda: FPNPhase2Component(model.fpn_phase_2),
        "proto": lambda: ProtoComponent(model.proto_net),
        "head": lambda: HeadComponent(model),
        "flow_pre": lambda: FlowPreComponent(model.flow_net_pre_convs),
        "flow": lambda: FlowComponent(model.flow_net_pre_convs, model.flow_net),
        "transform": lambda: TransformComponent(model),
    }
    if name not in builders:
        raise KeyError(f"unknown component {name!r}; known: {', '.join(builders)}")
    return builders[name]().eval()
