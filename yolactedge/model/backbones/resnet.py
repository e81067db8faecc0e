"""ResNet backbones with the original's module names (``layers.<stage>`` = torchvision ``layer<stage+1>``)."""
from __future__ import annotations

import torch
from torch import nn


class BasicBlock(nn.Module):
    """ResNet-18/34 block (two 3x3 convs)."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample if downsample is not None else nn.Sequential()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += self.downsample(x)  # in place, as the original: no new 4-20 MB tensor per block
        return self.relu(out)


class Bottleneck(nn.Module):
    """ResNet-50/101 block, stride on the 3x3 conv (torchvision "v1.5")."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        # An empty Sequential is the identity and owns no state-dict keys, as in the original.
        self.downsample = downsample if downsample is not None else nn.Sequential()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out += self.downsample(x)  # in place, as the original: no new 4-20 MB tensor per block
        return self.relu(out)


RESNET_LAYOUTS: dict[str, tuple[type[nn.Module], list[int]]] = {
    "resnet18": (BasicBlock, [2, 2, 2, 2]),
    "resnet34": (BasicBlock, [3, 4, 6, 3]),
    "resnet50": (Bottleneck, [3, 4, 6, 3]),
    "resnet101": (Bottleneck, [3, 4, 23, 3]),
}


class ResNetBackbone(nn.Module):
    """Stem + four stages; ``forward`` returns the selected stage outputs (C3, C4, C5)."""

    def __init__(self, depth_name: str, selected_layers: tuple[int, ...] = (1, 2, 3), width_mult: float = 1.0):
        """``width_mult`` scales every stage's width (1.0 = the standard network, as the original);
        narrower ResNets suit small CPU-trained models."""
        super().__init__()
        block, counts = RESNET_LAYOUTS[depth_name]
        self.selected_layers = tuple(selected_layers)
        base = max(8, int(round(64 * width_mult)))
        self.conv1 = nn.Conv2d(3, base, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(base)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layers = nn.ModuleList()
        self.channels: list[int] = []
        inplanes = base
        for index, count in enumerate(counts):
            planes = base * 2**index
            stride = 1 if index == 0 else 2
            downsample = None
            if stride != 1 or inplanes != planes * block.expansion:
                downsample = nn.Sequential(
                    nn.Conv2d(inplanes, planes * block.expansion, 1, stride, bias=False),
                    nn.BatchNorm2d(planes * block.expansion),
                )
            blocks = [block(inplanes, planes, stride, downsample)]
            inplanes = planes * block.expansion
            blocks += [block(inplanes, planes) for _ in range(count - 1)]
            self.layers.append(nn.Sequential(*blocks))
            self.channels.append(inplanes)

    @property
    def out_channels(self) -> list[int]:
        return [self.channels[i] for i in self.selected_layers]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        outs = []
        last = max(self.selected_layers)
        for index, layer in enumerate(self.layers[: last + 1]):
            x = layer(x)
            if index in self.selected_layers:
                outs.append(x)
        return outs

    def forward_partial(self, x: torch.Tensor) -> torch.Tensor:
        """Only up to the first selected stage (C3): what a video non-keyframe needs."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for layer in self.layers[: self.selected_layers[0] + 1]:
            x = layer(x)
        return x
