"""FeatFlowNet (the original ``FlowNetMini``): coarse-to-fine flow + per-channel scale/bias maps."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def conv_lrelu(inp: int, out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(inp, out, 3, stride, 1), nn.LeakyReLU(0.1, inplace=True))


class FlowPreConvs(nn.Module):
    """3x3 conv + LeakyReLU reducing the C3 lateral (256 ch) before the flow net (``flow_net_pre_convs``)."""

    def __init__(self, in_channels: int = 256, reduce_channels: int = 64):
        super().__init__()
        self.convs = nn.Sequential(conv_lrelu(in_channels, reduce_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.convs(x)


class FlowPredLayer(nn.Module):
    """flow (3x3, no bias), scale and bias (1x1) predictions at one level."""

    def __init__(self, in_channels: int, feature_channels: int = 256):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, 2, 3, padding=1, bias=False)
        self.scale = nn.Conv2d(in_channels, feature_channels, 1)
        self.bias = nn.Conv2d(in_channels, feature_channels, 1)
        for m in (self.conv, self.scale, self.bias):
            nn.init.kaiming_normal_(m.weight, mode="fan_in")
        nn.init.constant_(self.scale.bias, 1.0)  # start as identity: warped * 1 + 0
        nn.init.zeros_(self.bias.bias)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.conv(x), self.scale(x), self.bias(x)


def _resize(x: torch.Tensor, size: torch.Size) -> torch.Tensor:
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class FeatFlowNet(nn.Module):
    """Input: target (current frame) and source (keyframe) reduced laterals, concatenated.

    Returns per level (flow, scale, bias) from fine to coarse. The level-1 branch (69x69 at 550)
    is only computed when ``with_level1`` is set: warping P4/P5 never uses it, so inference skips
    it (the original always computed it). ``level1_flow_only`` also skips the level-1 scale and
    bias maps (two 1x1 convs to 256 channels at 69x69; None in their place): warping prototypes
    and the end-point-error loss use the flow alone.
    """

    def __init__(self, in_channels: int = 128, encode_channels: int = 64, feature_channels: int = 256):
        super().__init__()
        c = encode_channels
        self.conv1 = nn.Sequential(conv_lrelu(in_channels, c), conv_lrelu(c, c))
        self.conv2 = nn.Sequential(conv_lrelu(c, 2 * c, 2), conv_lrelu(2 * c, 2 * c))
        self.conv3 = nn.Sequential(conv_lrelu(2 * c, 4 * c, 2), conv_lrelu(4 * c, 4 * c))
        self.pred3 = FlowPredLayer(4 * c, feature_channels)
        self.pred2 = FlowPredLayer(4 * c + 2, feature_channels)
        self.pred1 = FlowPredLayer(2 * c + 2, feature_channels)
        self.upfeat3 = nn.Conv2d(4 * c, 2 * c, 3, padding=1, bias=False)
        self.upflow3 = nn.Conv2d(2, 2, 3, padding=1, bias=False)
        self.upfeat2 = nn.Conv2d(4 * c + 2, c, 3, padding=1, bias=False)
        self.upflow2 = nn.Conv2d(2, 2, 3, padding=1, bias=False)
        for block in (self.conv1, self.conv2, self.conv3):
            for m in block.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, 0.1, mode="fan_in")
                    nn.init.zeros_(m.bias)

    def forward(
        self, target: torch.Tensor, source: torch.Tensor, with_level1: bool = False, level1_flow_only: bool = False
    ) -> list[tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]]:
        out1 = self.conv1(torch.cat((target, source), 1))
        out2 = self.conv2(out1)
        out3 = self.conv3(out2)
        flow3, scale3, bias3 = self.pred3(out3)
        size2 = out2.shape[-2:]
        up_feat3 = self.upfeat3(_resize(out3, size2))
        up_flow3 = self.upflow3(_resize(flow3, size2))
        concat2 = torch.cat((out2, up_feat3, up_flow3), 1)
        flow2, scale2, bias2 = self.pred2(concat2)
        levels = [(flow2, scale2, bias2), (flow3, scale3, bias3)]
        if with_level1:
            size1 = out1.shape[-2:]
            up_feat2 = self.upfeat2(_resize(concat2, size1))
            up_flow2 = self.upflow2(_resize(flow2, size1))
            concat1 = torch.cat((out1, up_feat2, up_flow2), 1)
            levels.insert(0, (self.pred1.conv(concat1), None, None) if level1_flow_only else self.pred1(concat1))
        return levels


class SPA(nn.Module):
    """Refines warped P4/P5 with the current frame's C3 lateral (``spa.refine_convs``).

    Initialised to the identity (zero residual), unlike the original's Kaiming init: SPA is trained
    in stage 3 only, and a short stage 3 left the random residual as noise on every non-keyframe
    (measured on the synthetic videos with the frame as its own keyframe, i.e. no motion at all:
    -2.2 mask AP / -4.7 box AP). Zero weights still get gradients (LeakyReLU slope 0.1 at 0).
    Loaded checkpoints are unaffected.

    ``depth`` > 1 (ours; 1 is the original and keeps its state-dict names) stacks ``depth`` 3x3
    conv + LeakyReLU layers per level, so the residual can see a wider window of the current frame
    than one 3x3 conv: the first layers start from Kaiming weights and only the last from zeros (all
    zeros would get no gradient through the stack).
    """

    def __init__(self, num_features: int = 256, depth: int = 1):
        super().__init__()
        if depth < 1:
            raise ValueError(f"SPA depth must be >= 1, got {depth}")
        f = num_features
        self.refine_convs = nn.ModuleList([self._branch(f, depth) for _ in range(2)])

    @staticmethod
    def _branch(f: int, depth: int) -> nn.Sequential:
        layers = [conv_lrelu(2 * f if i == 0 else f, f) for i in range(depth)]
        branch = nn.Sequential(*(m for layer in layers for m in layer))
        convs = [m for m in branch if isinstance(m, nn.Conv2d)]
        for conv in convs[:-1]:
            nn.init.kaiming_normal_(conv.weight, 0.1, mode="fan_in")
            nn.init.zeros_(conv.bias)
        nn.init.zeros_(convs[-1].weight)
        nn.init.zeros_(convs[-1].bias)
        return branch

    def forward(self, lateral: torch.Tensor, w4: torch.Tensor, w5: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        outs = []
        for refine, feat in zip(self.refine_convs, (w4, w5)):
            # Progressive resizing (69 -> 35 -> 18) as the original.
            lateral = _resize(lateral, feat.shape[-2:])
            outs.append(feat + refine(torch.cat((feat, lateral), 1)))
        return outs[0], outs[1]
