"""FPN split in two phases, as YolactEdge does, so the video path can warp phase-1 features.

Layer lists are stored top-down (index 0 = C5/P5) to keep the original state-dict names.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def resize_bilinear(x: torch.Tensor, size: tuple[int, int] | torch.Size) -> torch.Tensor:
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class FPNPhase1(nn.Module):
    """Lateral 1x1 convs + top-down sum. Returns (M3, M4, M5) and the C3 lateral L3."""

    def __init__(self, in_channels: list[int], num_features: int = 256):
        super().__init__()
        self.lat_layers = nn.ModuleList([nn.Conv2d(c, num_features, 1) for c in reversed(in_channels)])

    def forward(self, c3: torch.Tensor, c4: torch.Tensor, c5: torch.Tensor) -> tuple[torch.Tensor, ...]:
        l5 = self.lat_layers[0](c5)
        l4 = self.lat_layers[1](c4)
        l3 = self.lat_layers[2](c3)
        m5 = l5
        m4 = resize_bilinear(m5, c4.shape[-2:]) + l4
        m3 = resize_bilinear(m4, c3.shape[-2:]) + l3
        return m3, m4, m5, l3

    def lateral_c3(self, c3: torch.Tensor) -> torch.Tensor:
        """L3 of a non-keyframe (the original's separate ``lat_layer`` engine)."""
        return self.lat_layers[2](c3)


class FPNPhase2(nn.Module):
    """3x3 smoothing + ReLU on P3..P5, then stride-2 convs (no ReLU) for P6, P7."""

    def __init__(self, num_features: int = 256, num_downsample: int = 2):
        super().__init__()
        self.pred_layers = nn.ModuleList([nn.Conv2d(num_features, num_features, 3, padding=1) for _ in range(3)])
        self.downsample_layers = nn.ModuleList(
            [nn.Conv2d(num_features, num_features, 3, stride=2, padding=1) for _ in range(num_downsample)]
        )

    def forward(self, m3: torch.Tensor, m4: torch.Tensor, m5: torch.Tensor) -> list[torch.Tensor]:
        p5 = F.relu(self.pred_layers[0](m5))
        p4 = F.relu(self.pred_layers[1](m4))
        p3 = F.relu(self.pred_layers[2](m3))
        outs = [p3, p4, p5]
        for layer in self.downsample_layers:
            outs.append(layer(outs[-1]))
        return outs
