"""Builds the network from a ``ModelConfig`` (the only place that reads a config in ``model/``)."""
from __future__ import annotations

from torch import nn

from yolactedge.config.presets import get_config
from yolactedge.config.schema import ModelConfig
from yolactedge.model.backbones import build_backbone
from yolactedge.model.flow import SPA, FeatFlowNet, FlowPreConvs
from yolactedge.model.fpn import FPNPhase1, FPNPhase2
from yolactedge.model.fresh_lite import FreshLite
from yolactedge.model.fresh_top import FreshTop
from yolactedge.model.head import PredictionHead
from yolactedge.model.priors import PriorCache
from yolactedge.model.protonet import ProtoNet
from yolactedge.model.video import VideoModules
from yolactedge.model.yolact import Yolact


def build_model(config: ModelConfig | str) -> Yolact:
    """The ``nn.Module`` for a config or a preset name (e.g. ``"yolact_edge_config"``)."""
    if isinstance(config, str):
        config = get_config(config)
    backbone = build_backbone(config.backbone)
    f = config.fpn.num_features
    video = None
    if config.flow is not None:
        video = VideoModules(
            flow_net_pre_convs=FlowPreConvs(f, config.flow.reduce_channels),
            flow_net=FeatFlowNet(2 * config.flow.reduce_channels, config.flow.encode_channels, f),
            spa=SPA(f, config.flow.spa_depth) if config.flow.use_spa else None,
            p3_from_spa=config.flow.p3_from_spa,
        )
    model = Yolact(
        backbone=backbone,
        proto_net=ProtoNet(f, config.proto.channels, config.proto.num_prototypes, config.proto.num_convs_before_upsample),
        fpn_phase_1=FPNPhase1(backbone.out_channels, f),
        fpn_phase_2=FPNPhase2(f, config.fpn.num_downsample),
        head=PredictionHead(
            f, config.num_classes, config.anchors.num_anchors, config.proto.num_prototypes, config.head.extra_head_convs
        ),
        priors=PriorCache(
            config.anchors.scales, config.anchors.aspect_ratios, config.input_size, config.anchors.square_anchors
        ),
        semantic_seg_conv=nn.Conv2d(f, config.num_classes - 1, 1) if config.head.semantic_seg else None,
        video=video,
    )
    init_head_weights(model)
    if config.flow is not None:
        model.reuse_prototypes = config.flow.reuse_prototypes
        if any(config.flow.fresh_blocks):  # built last: every other module's seeded init stays as it was
            lats = model.fpn_phase_1.lat_layers
            model.fresh_top = FreshTop(backbone, lats[0], lats[1], tuple(config.flow.fresh_blocks),
                                       config.flow.fresh_levels, f)
        elif any(config.flow.fresh_lite):
            model.fresh_top = FreshLite(backbone.out_channels[0], tuple(config.flow.fresh_lite),
                                        config.flow.fresh_levels, f,
                                        sees_warp=config.flow.fresh_lite_input == "c3+warp")
    model.config = config  # type: ignore[attr-defined]  # for callers; never read inside forward
    return model


def init_head_weights(model: Yolact) -> None:
    """Xavier-uniform weights, zero bias for every conv outside the backbone and flow modules,
    as the original's training-from-scratch init (flow modules keep their own init)."""
    skip = {"backbone", "flow_net", "flow_net_pre_convs", "spa"}
    for name, module in model.named_modules():
        if name.split(".")[0] in skip or not isinstance(module, nn.Conv2d):
            continue
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
