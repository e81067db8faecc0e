"""MobileNetV2 with torchvision's ``features`` structure stored under ``layers.<i>``.

Layers after the last selected one (the 320- and 1280-channel tail) are built so original
checkpoints load, but never executed: the original ran them on every frame for nothing.
"""
from __future__ import annotations

import torch
from torch import nn

# (expansion t, channels c, repeats n, first stride s), width multiplier 1.0
INVERTED_RESIDUAL_TABLE = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


def _make_divisible(value: float, divisor: int = 8) -> int:
    new = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * value else new


def conv_bn_relu6(inp: int, out: int, kernel: int = 3, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(inp, out, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(out),
        nn.ReLU6(inplace=True),
    )


class InvertedResidual(nn.Module):
    def __init__(self, inp: int, out: int, stride: int, expand_ratio: int):
        super().__init__()
        hidden = int(round(inp * expand_ratio))
        self.use_residual = stride == 1 and inp == out
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(conv_bn_relu6(inp, hidden, kernel=1))
        layers += [
            conv_bn_relu6(hidden, hidden, stride=stride, groups=hidden),
            nn.Conv2d(hidden, out, 1, bias=False),
            nn.BatchNorm2d(out),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_residual else self.conv(x)


class MobileNetV2Backbone(nn.Module):
    def __init__(self, selected_layers: tuple[int, ...] = (3, 4, 6), width_mult: float = 1.0):
        super().__init__()
        self.selected_layers = tuple(selected_layers)
        channels = _make_divisible(32 * width_mult)
        self.layers = nn.ModuleList([conv_bn_relu6(3, channels, stride=2)])
        self.channels = [channels]
        for t, c, n, s in INVERTED_RESIDUAL_TABLE:
            out = _make_divisible(c * width_mult)
            blocks = [InvertedResidual(channels if i == 0 else out, out, s if i == 0 else 1, t) for i in range(n)]
            self.layers.append(nn.Sequential(*blocks))
            self.channels.append(out)
            channels = out
        last = _make_divisible(1280 * max(1.0, width_mult))
        self.layers.append(conv_bn_relu6(channels, last, kernel=1))
        self.channels.append(last)

    @property
    def out_channels(self) -> list[int]:
        return [self.channels[i] for i in self.selected_layers]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = []
        for index, layer in enumerate(self.layers[: max(self.selected_layers) + 1]):
            x = layer(x)
            if index in self.selected_layers:
                outs.append(x)
        return outs

    def forward_partial(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers[: self.selected_layers[0] + 1]:
            x = layer(x)
        return x
