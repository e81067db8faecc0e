"""A small, fixed-width fresh top for non-keyframes (ours): the same module on every backbone.

``FreshTop`` copies the backbone's own C4/C5 blocks, so its cost and what it computes scale with the
backbone (two blocks are all of ResNet-18's C4 but 2 of ResNet-101's 23). This module is a small
residual top of fixed widths, trained from scratch in stage 3 to turn the warped M4/M5 into the
current frame's (or, with ``sees_warp`` off, to imitate them from the current frame's C3 alone):
what it costs on R-101 and what it wins on the benchmark's network are measured for one and the
same module.
"""
from __future__ import annotations

import torch
from torch import nn

from yolactedge.model.fpn import resize_bilinear
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
    gated into the warped M4/M5. Same interface as ``FreshTop``.

    ``sees_warp`` (``flow.fresh_lite_input="c3+warp"``): the warped W4/W5 also enter the stride-16
    stream, and the laterals give corrections added to them. Where the warp is already right (slow
    motion) the module has nothing to re-derive; from C3 alone it re-derived M4/M5 everywhere, less
    faithfully than a near-exact warp (BENCHMARKS.md)."""

    from_scratch = True

    def __init__(self, c3_channels: int, widths: tuple[int, int], levels: str, num_features: int,
                 sees_warp: bool = False):
        super().__init__(levels)
        w4, w5 = (int(w) for w in widths)
        if w4 < 1 or w5 < 1:
            raise ValueError(f"flow.fresh_lite widths must be >= 1, got {widths!r}")
        self.widths = (w4, w5)
        self.sees_warp = bool(sees_warp)
        self.c4_blocks = nn.Sequential(_Residual(c3_channels, w4, 2), _Residual(w4, w4, 1))
        self.c5_blocks = nn.Sequential(_Residual(w4, w5, 2))
        self.lateral5 = nn.Conv2d(w5, num_features, 1)
        self.gate5 = bottleneck_gate(num_features)
        if levels == "P4P5":
            self.lateral4 = nn.Conv2d(w4, num_features, 1)
            self.gate4 = bottleneck_gate(num_features)
        if self.sees_warp:
            # W4 and W5 (projected at stride 32, then upsampled) join the stride-16 stream after the
            # first block; the laterals start at zero, so the estimate starts as the warp itself.
            self.warp_in4 = nn.Conv2d(num_features, w4, 1)
            self.warp_in5 = nn.Conv2d(num_features, w4, 1)
            for conv in (self.warp_in4, self.warp_in5):
                nn.init.normal_(conv.weight, std=(1.0 / num_features) ** 0.5)
                nn.init.zeros_(conv.bias)
            for lateral in (self.lateral5, getattr(self, "lateral4", None)):
                if lateral is not None:
                    nn.init.zeros_(lateral.weight)
                    nn.init.zeros_(lateral.bias)

    def estimate(self, c3: torch.Tensor, w4: torch.Tensor | None = None,
                 w5: torch.Tensor | None = None) -> tuple[torch.Tensor | None, torch.Tensor]:
        """(M4 estimate or None, M5 estimate). With ``sees_warp``: W4/W5 plus corrections computed
        from C3 and the warped features (the corrections summed top-down as the FPN sums levels)."""
        if not self.sees_warp:
            return super().estimate(c3)
        if w4 is None or w5 is None:
            raise ValueError("this fresh top corrects the warped features (flow.fresh_lite_input 'c3+warp'): "
                             "pass W4 and W5 to estimate()")
        x = self.c4_blocks[0](c3)
        x = torch.relu(x + self.warp_in4(w4) + resize_bilinear(self.warp_in5(w5), x.shape[-2:]))
        c4 = self.c4_blocks[1](x)
        d5 = self.lateral5(self.c5_blocks(c4))
        m4 = w4 + self.lateral4(c4) + resize_bilinear(d5, c4.shape[-2:]) if self.levels == "P4P5" else None
        return m4, w5 + d5

    def forward(self, c3: torch.Tensor, w4: torch.Tensor, w5: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(refreshed W4, refreshed W5, M4 estimate or None, M5 estimate).

        The gates see and blend the estimates detached: the estimator learns only from its own
        feature loss (imitate M4/M5), the gates from the detection losses (when to trust it). With
        the detection gradient flowing into the estimator too, stage 3 made its estimates less
        faithful than the warm-up left them (BENCHMARKS.md)."""
        # The warped inputs are detached too: the estimator's loss trains the estimator, not the flow net.
        m4, m5 = self.estimate(c3, w4.detach(), w5.detach()) if self.sees_warp else self.estimate(c3)
        return (*self.blend(w4, w5, None if m4 is None else m4.detach(), m5.detach()), m4, m5)
