"""The non-keyframe path: Partial Feature Transform from a cached keyframe."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from yolactedge.model.flow import SPA, FeatFlowNet, FlowPreConvs
from yolactedge.model.fpn import resize_bilinear
from yolactedge.model.outputs import KeyframeState
from yolactedge.model.warp import warp


@dataclass
class VideoModules:
    """Groups the modules the video presets add; the network registers them by their original names."""

    flow_net_pre_convs: FlowPreConvs
    flow_net: FeatFlowNet
    spa: SPA | None = None
    p3_from_spa: bool = False  # M3 from the SPA-refined W4 (ours) instead of the raw warped one


def warp_with_scale(features: torch.Tensor, flow: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    return warp(features, flow) * scale + bias


class VideoMixin:
    """Methods of ``Yolact`` for video presets (kept apart so the image path reads plainly)."""

    flow_net_pre_convs: nn.Module
    flow_net: FeatFlowNet
    p3_from_spa: bool = False

    def make_keyframe_state(self, feats: tuple[torch.Tensor, ...], lateral: torch.Tensor) -> KeyframeState:
        lateral = lateral.detach()
        return KeyframeState(
            feats=tuple(f.detach() for f in feats),
            lateral=lateral,
            flow_features=self.flow_net_pre_convs(lateral).detach(),
        )

    def estimate_flow(self, lateral: torch.Tensor, state: KeyframeState, with_level1: bool = False,
                      level1_flow_only: bool = False):
        """Flow from the current frame (target) to the keyframe (source) at P4/P5 (and P3 if asked)."""
        source = state.flow_features if state.flow_features is not None else self.flow_net_pre_convs(state.lateral)
        if source.shape[0] != lateral.shape[0]:
            source = source.expand(lateral.shape[0], *source.shape[1:])
        return self.flow_net(self.flow_net_pre_convs(lateral), source, with_level1=with_level1,
                             level1_flow_only=level1_flow_only)

    def warp_top_levels(self, lateral: torch.Tensor, state: KeyframeState,
                        flows=None) -> tuple[torch.Tensor, torch.Tensor]:
        """The keyframe's phase-1 M4/M5 warped to the current frame (W4, W5), before any refinement."""
        if flows is None:
            flows = self.estimate_flow(lateral, state)
        (flow4, scale4, bias4), (flow5, scale5, bias5) = flows[-2:]
        key4, key5 = state.feats[1], state.feats[2]
        if key4.shape[0] != lateral.shape[0]:
            key4 = key4.expand(lateral.shape[0], *key4.shape[1:])
            key5 = key5.expand(lateral.shape[0], *key5.shape[1:])
        return warp_with_scale(key4, flow4, scale4, bias4), warp_with_scale(key5, flow5, scale5, bias5)

    def partial_feature_transform(self, lateral: torch.Tensor, state: KeyframeState, flows=None,
                                  c3: torch.Tensor | None = None, aux: dict | None = None) -> tuple[torch.Tensor, ...]:
        """Warp the keyframe's phase-1 M4/M5, rebuild M3 from the current C3 lateral, refine (SPA).

        ``flows``: the flow net's P4/P5 outputs if already computed. M3 is rebuilt from the raw
        warped W4 (the original) or, with ``p3_from_spa``, from the SPA-refined one. Models with
        ``fresh_top`` also need the current frame's ``c3``: its shallow estimates are gated into the
        warped features first, so M3 and SPA see the refreshed ones; ``aux`` (a dict) receives the
        estimates as ``"fresh_m5"`` (and ``"fresh_m4"``) for their training loss.
        """
        w4, w5 = self.warp_top_levels(lateral, state, flows)
        fresh_top = getattr(self, "fresh_top", None)
        if fresh_top is not None:
            if c3 is None:
                raise ValueError("this model refreshes its top levels from the current frame (flow.fresh_blocks or "
                                 "fresh_lite): pass its C3 (c3=...) to partial_feature_transform")
            w4, w5, m4, m5 = fresh_top(c3, w4, w5)
            if aux is not None:
                aux["fresh_m5"] = m5
                if m4 is not None:
                    aux["fresh_m4"] = m4
        spa = getattr(self, "spa", None)
        refine_first = spa is not None and self.p3_from_spa
        if refine_first:
            w4, w5 = spa(lateral, w4, w5)
        m3 = resize_bilinear(w4, lateral.shape[-2:]) + lateral
        if spa is not None and not refine_first:
            w4, w5 = spa(lateral, w4, w5)
        return m3, w4, w5


def warp_prototypes(proto: torch.Tensor, flow1: torch.Tensor) -> torch.Tensor:
    """Reuse a keyframe's prototypes [N,Hp,Wp,k] on a non-keyframe by warping them with the P3-level
    flow, upsampled to prototype resolution (flow units are resolution-independent)."""
    flow = resize_bilinear(flow1, proto.shape[1:3])
    if proto.shape[0] != flow.shape[0]:
        proto = proto.expand(flow.shape[0], *proto.shape[1:])
    return warp(proto.permute(0, 3, 1, 2), flow).permute(0, 2, 3, 1).contiguous()
