"""The shared prediction head (one set of weights applied to every FPN level)."""
from __future__ import annotations

import torch
from torch import nn


class PredictionHead(nn.Module):
    """3x3 conv + ReLU, then parallel box / class / coefficient convs.

    Outputs are flattened anchor-major per location (row, column, anchor) like the original:
    loc [N, H*W*A, 4], conf logits [N, H*W*A, C], coefficients after tanh [N, H*W*A, k].
    """

    def __init__(self, channels: int, num_classes: int, num_anchors: int, num_prototypes: int, extra_convs: int = 1):
        super().__init__()
        self.num_classes = num_classes
        self.num_prototypes = num_prototypes
        layers: list[nn.Module] = []
        for _ in range(extra_convs):
            layers += [nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(inplace=True)]
        self.upfeature = nn.Sequential(*layers)
        self.bbox_layer = nn.Conv2d(channels, num_anchors * 4, 3, padding=1)
        self.conf_layer = nn.Conv2d(channels, num_anchors * num_classes, 3, padding=1)
        self.mask_layer = nn.Conv2d(channels, num_anchors * num_prototypes, 3, padding=1)

    @staticmethod
    def _flatten(x: torch.Tensor, k: int) -> torch.Tensor:
        return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1, k)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.upfeature(x)
        loc = self._flatten(self.bbox_layer(x), 4)
        conf = self._flatten(self.conf_layer(x), self.num_classes)
        coef = torch.tanh(self._flatten(self.mask_layer(x), self.num_prototypes))
        return loc, conf, coef
