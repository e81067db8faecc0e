"""The YolactEdge network: backbone -> two-phase FPN -> ProtoNet + shared head.

Module attribute names and registration order equal the original's, so original checkpoints
load with a plain ``load_state_dict``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from yolactedge.model.fpn import FPNPhase1, FPNPhase2
from yolactedge.model.head import PredictionHead
from yolactedge.model.outputs import KeyframeState, YolactOutput
from yolactedge.model.priors import PriorCache
from yolactedge.model.protonet import ProtoNet
from yolactedge.model.video import VideoMixin, VideoModules, warp_prototypes


class Yolact(VideoMixin, nn.Module):
    def __init__(
        self,
        backbone: nn.Module,
        proto_net: ProtoNet,
        fpn_phase_1: FPNPhase1,
        fpn_phase_2: FPNPhase2,
        head: PredictionHead,
        priors: PriorCache,
        semantic_seg_conv: nn.Module | None = None,
        video: VideoModules | None = None,
    ):
        super().__init__()
        self.backbone = backbone
        self.proto_net = proto_net
        self.fpn_phase_1 = fpn_phase_1
        self.fpn_phase_2 = fpn_phase_2
        # Video modules are registered directly (spa, flow_net_pre_convs, flow_net) for the
        # original key names; ``VideoModules`` only groups them.
        if video is not None:
            if video.spa is not None:
                self.spa = video.spa
            self.flow_net_pre_convs = video.flow_net_pre_convs
            self.flow_net = video.flow_net
            self.p3_from_spa = video.p3_from_spa and video.spa is not None
        self.prediction_layers = nn.ModuleList([head])
        self.semantic_seg_conv = semantic_seg_conv
        self.priors = priors
        self.reuse_prototypes = False  # runtime options of the video path, see ``forward``
        self.reuse_heads: float | None = None

    @property
    def is_video(self) -> bool:
        return hasattr(self, "flow_net")

    # -- stages (also the units of per-component export) -------------------------------------
    def heads(self, levels: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return _concat_levels([self.prediction_layers[0](level) for level in levels])

    def heads_reusing(self, levels: list[torch.Tensor], state: KeyframeState, change_thresh: float):
        """Heads only on levels that changed since the keyframe (relative mean absolute change above
        ``change_thresh``); the others reuse the keyframe's head outputs. P3 is always recomputed
        (it is rebuilt from the current frame)."""
        head = self.prediction_layers[0]
        outs = []
        for index, level in enumerate(levels):
            key_level = state.levels[index] if state.levels is not None else None
            cached = state.head_outputs[index] if state.head_outputs is not None else None
            if index > 0 and cached is not None and key_level is not None and cached[0].shape[0] == level.shape[0]:
                change = (level - key_level).abs().mean() / key_level.abs().mean().clamp(min=1e-6)
                if float(change) <= change_thresh:
                    outs.append(cached)
                    continue
            outs.append(head(level))
        return _concat_levels(outs)

    def keyframe_features(self, x: torch.Tensor) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
        feats, l3, _ = self.keyframe_features_and_c3(x)
        return feats, l3

    def keyframe_features_and_c3(self, x: torch.Tensor) -> tuple[tuple[torch.Tensor, ...], torch.Tensor, torch.Tensor]:
        """Also C3: stage 3 feeds the fresh top levels the annotated frame's own (one backbone pass)."""
        c3, c4, c5 = self.backbone(x)
        m3, m4, m5, l3 = self.fpn_phase_1(c3, c4, c5)
        return (m3, m4, m5), l3, c3

    def forward(
        self, x: torch.Tensor, keyframe_state: KeyframeState | None = None, reuse_prototypes: bool | None = None,
        reuse_heads: float | None = None,
    ) -> YolactOutput:
        """Keyframe (full network) when ``keyframe_state`` is None, else the non-keyframe path.

        Options beyond the original for non-keyframes (defaults: the module attributes of the same
        name, off): ``reuse_prototypes`` warps the keyframe's prototypes with the P3-level flow
        instead of running ProtoNet; ``reuse_heads`` (a change threshold) runs the heads only on
        FPN levels that changed by more than it, reusing the keyframe's outputs elsewhere.
        """
        reuse = self.reuse_prototypes if reuse_prototypes is None else reuse_prototypes
        head_thresh = self.reuse_heads if reuse_heads is None else reuse_heads
        proto = None
        if keyframe_state is None:
            feats, lateral = self.keyframe_features(x)
            state = self.make_keyframe_state(feats, lateral) if self.is_video else None
        else:
            if not self.is_video:
                raise ValueError("keyframe_state given, but this model has no flow network (not a video preset)")
            c3 = self.backbone.forward_partial(x)
            lateral = self.fpn_phase_1.lateral_c3(c3)
            reuse = reuse and keyframe_state.proto is not None
            flows = self.estimate_flow(lateral, keyframe_state, with_level1=reuse, level1_flow_only=True)
            feats = self.partial_feature_transform(lateral, keyframe_state, flows, c3=c3)
            if reuse:
                proto = warp_prototypes(keyframe_state.proto, flows[0][0])
            state = keyframe_state
        levels = self.fpn_phase_2(*feats)
        if proto is None:
            proto = self.proto_net(levels[0]).permute(0, 2, 3, 1).contiguous()
        head_outputs = None
        if keyframe_state is not None and head_thresh is not None and not self.training:
            loc, conf, coef = self.heads_reusing(levels, keyframe_state, head_thresh)
        elif state is not None and keyframe_state is None and not self.training:
            head_outputs = tuple(self.prediction_layers[0](level) for level in levels)
            loc, conf, coef = _concat_levels(list(head_outputs))
        else:
            loc, conf, coef = self.heads(levels)
        priors = self.priors([tuple(level.shape[-2:]) for level in levels], x.device, loc.dtype)
        segm = None
        if self.training:
            if self.semantic_seg_conv is not None:
                segm = self.semantic_seg_conv(levels[0])
        else:
            conf = F.softmax(conf, -1)
        if state is not None and keyframe_state is None:
            state = state._replace(proto=proto.detach(), levels=tuple(level.detach() for level in levels),
                                   head_outputs=head_outputs)
        return YolactOutput(loc, conf, coef, priors, proto, segm, state)


def _concat_levels(outs: list[tuple[torch.Tensor, ...]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return tuple(torch.cat([o[i] for o in outs], 1) for i in range(3))  # type: ignore[return-value]
