"""A small, fixed-width fresh top for non-keyframes (ours): the same module on every backbone.

``FreshTop`` copies the backbone's own C4/C5 blocks, so its cost and what it computes scale with the
backbone (two blocks are all of ResNet-18's C4 but 2 of ResNet-101's 23). This module is a small
residual top of fixed widths, trained from scratch in stage 3 to imitate the FPN's M4/M5 from the
current frame's C3: what it costs on R-101 and what it wins on the benchmark's network are measured
for one and the same module.
"""
from __future__ import annotations

import torch
from torch import nn

from yolactedge.model.fresh_top import GatedTop


class _Residual(nn.Module):
    """Two 3x3 convs and a (projected) shortcut, no normalisation: batch statistics of stage 3's
    small batches would differ from the frozen network's, and there is nothing to fold at inference."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.shortcut = nn.Conv2d(cin, cout, 1, stride) if stride != 1 or cin != cout else nn.Identity()
        for conv in (self.conv1, self.conv2):
            nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
            nn.init.zeros_(conv.bias)
        self.conv2.weight.data.mul_(0.2)  # the residual branch starts small

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.shortcut(x) + self.conv2(torch.relu(self.conv1(x))))


def bottleneck_gate(num_features: int, hidden: int = 64) -> nn.Sequential:
    """Per-position, per-channel gate logits from (warped, estimate): a 1x1 squeeze to ``hidden``
    channels, then the 3x3 (a full 3x3 on 512 channels costs 2% of an R-101 keyframe). Starts mostly
    closed (sigmoid(-2) = 0.12): the module begins close to the original scheme."""
    squeeze = nn.Conv2d(2 * num_features, hidden, 1)
    spread = nn.Conv2d(hidden, num_features, 3, padding=1)
    nn.init.kaiming_normal_(squeeze.weight, nonlinearity="relu")
    nn.init.zeros_(squeeze.bias)
    nn.init.normal_(spread.weight, std=1e-3)
    nn.init.constant_(spread.bias, -2.0)
    return nn.Sequential(squeeze, nn.ReLU(), spread)


class FreshLite(GatedTop):
    """Current frame's C3 -> two residual blocks at stride 16 (``widths[0]``), one at stride 32
    (``widths[1]``) -> 1x1 to the FPN's width, top-down as the FPN (M4 = lateral + upsampled M5) ->
    gated into the warped M4/M5. Same interface as ``FreshTop``."""

    from_scratch = True

    def __init__(self, c3_channels: int, widths: tuple[int, int], levels: str, num_features: int):
        super().__init__(levels)
        w4, w5 = (int(w) for w in widths)
        if w4 < 1 or w5 < 1:
            raise ValueError(f"flow.fresh_lite widths must be >= 1, got {widths!r}")
        self.widths = (w4, w5)
        self.c4_blocks = nn.Sequential(_Residual(c3_channels, w4, 2), _Residual(w4, w4, 1))
        self.c5_blocks = nn.Sequential(_Residual(w4, w5, 2))
        self.lateral5 = nn.Conv2d(w5, num_features, 1)
        self.gate5 = bottleneck_gate(num_features)
        if levels == "P4P5":
            self.lateral4 = nn.Conv2d(w4, num_features, 1)
            self.gate4 = bottleneck_gate(num_features)

    def forward(self, c3: torch.Tensor, w4: torch.Tensor, w5: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(refreshed W4, refreshed W5, M4 estimate or None, M5 estimate).

        The gates see and blend the estimates detached: the estimator learns only from its own
        feature loss (imitate M4/M5), the gates from the detection losses (when to trust it). With
        the detection gradient flowing into the estimator too, stage 3 made its estimates less
        faithful than the warm-up left them (BENCHMARKS.md)."""
        m4, m5 = self.estimate(c3)
        return (*self.blend(w4, w5, None if m4 is None else m4.detach(), m5.detach()), m4, m5)
