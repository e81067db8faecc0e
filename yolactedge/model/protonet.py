"""ProtoNet: prototype masks from P3. A Sequential so its indices are the original's key names."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Upsample2x(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


class ProtoNet(nn.Sequential):
    """conv-ReLU x3, upsample x2, conv-ReLU, 1x1 conv, then the prototype ReLU. Output NCHW.

    The original wraps every item with a ReLU, including the upsample (a no-op on ReLU output);
    it is kept so the Sequential indices (0, 2, 4, 8, 10) match original checkpoints.
    """

    def __init__(self, in_channels: int = 256, channels: int = 256, num_prototypes: int = 32, num_convs: int = 3):
        layers: list[nn.Module] = []
        c = in_channels
        for _ in range(num_convs):
            layers += [nn.Conv2d(c, channels, 3, padding=1), nn.ReLU(inplace=True)]
            c = channels
        layers += [Upsample2x(), nn.ReLU(inplace=True), nn.Conv2d(c, channels, 3, padding=1), nn.ReLU(inplace=True)]
        layers += [nn.Conv2d(channels, num_prototypes, 1)]
        super().__init__(*layers)

    def forward(self, p3: torch.Tensor) -> torch.Tensor:
        return F.relu(super().forward(p3))
