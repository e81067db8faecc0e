"""Fresh top levels for non-keyframes (ours): a shallow pass of the current frame gated into the warped M5 (and M4).

The level oracle (BENCHMARKS.md) showed that the warped keyframe M5 is what costs non-keyframes most
of their accuracy: a translation field cannot rotate objects or bring in new ones at stride 32. This
module computes cheap current-frame features from the frame's own C3 through the first block(s) of the
backbone's last two stages (copies, fine-tuned in stage 3) and the FPN laterals, and lets a learned
per-position, per-channel gate choose between them and the warped features.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from yolactedge.config.schema import FRESH_LEVELS
from yolactedge.model.fpn import resize_bilinear


def stage_blocks(backbone: nn.Module, counts: tuple[int, int]) -> tuple[list[nn.Module], list[nn.Module]]:
    """The first ``counts`` blocks of the backbone's C4 and C5 stages."""
    layers = getattr(backbone, "layers", None)
    selected = getattr(backbone, "selected_layers", None)
    if layers is None or selected is None or len(selected) < 3 or list(selected[:3]) != list(range(selected[0],
                                                                                                  selected[0] + 3)):
        raise ValueError(f"flow.fresh_blocks needs a backbone whose C4 and C5 stages directly follow C3 (ResNet), not "
                         f"{type(backbone).__name__} with stages {selected}")
    out = []
    for stage, count in zip(selected[1:3], counts):
        blocks = list(layers[stage])
        if not 1 <= count <= len(blocks):
            raise ValueError(f"flow.fresh_blocks asks for {count} blocks of backbone stage {stage}, which has {len(blocks)}")
        out.append(blocks[:count])
    return out[0], out[1]


def _gate(num_features: int) -> nn.Conv2d:
    """3x3: measured against 1x1 gates (cheaper by ~0.02x of an R-101 keyframe), they won 0.4 mask
    and 1.6 box AP on the synthetic benchmark (BENCHMARKS.md). Starts mostly closed
    (sigmoid(-2) = 0.12): a new module begins close to the original scheme."""
    gate = nn.Conv2d(2 * num_features, num_features, 3, padding=1)
    nn.init.kaiming_normal_(gate.weight, 0.1, mode="fan_in")
    gate.weight.data.mul_(0.1)
    nn.init.constant_(gate.bias, -2.0)
    return gate


class GatedTop(nn.Module):
    """What both fresh tops share: C3 -> ``c4_blocks`` -> ``c5_blocks``, 1x1 laterals and the FPN's
    top-down sum (M4 = lateral + upsampled M5), and the gated blend into the warped levels."""

    levels: str
    c4_blocks: nn.Module
    c5_blocks: nn.Module
    from_scratch = False  # True: random init (stage 3 warms it up, at a higher lr); False: copies of trained blocks
    sees_warp = False  # True: ``estimate`` also reads the warped W4/W5 (and corrects them)

    def __init__(self, levels: str):
        super().__init__()
        if levels not in FRESH_LEVELS:
            raise ValueError(f"flow.fresh_levels must be one of {FRESH_LEVELS}, got {levels!r}")
        self.levels = levels

    def estimate(self, c3: torch.Tensor, w4: torch.Tensor | None = None,
                 w5: torch.Tensor | None = None) -> tuple[torch.Tensor | None, torch.Tensor]:
        """(M4 estimate or None, M5 estimate), built as the FPN builds them (from C3 alone: the
        warped W4/W5 are read only by tops that ``sees_warp``)."""
        c4 = self.c4_blocks(c3)
        m5 = self.lateral5(self.c5_blocks(c4))
        m4 = self.lateral4(c4) + resize_bilinear(m5, c4.shape[-2:]) if self.levels == "P4P5" else None
        return m4, m5

    def blend(self, w4: torch.Tensor, w5: torch.Tensor, m4: torch.Tensor | None,
              m5: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        w5 = w5 + torch.sigmoid(self.gate5(torch.cat((w5, m5), 1))) * (m5 - w5)
        if m4 is not None:
            w4 = w4 + torch.sigmoid(self.gate4(torch.cat((w4, m4), 1))) * (m4 - w4)
        return w4, w5


class FreshTop(GatedTop):
    """Current frame's C3 -> shallow M5 (and M4) estimates, gated into the warped ones.

    ``lateral_c5`` / ``lateral_c4``: the FPN's lateral convs, copied. BatchNorm inside the copied
    blocks keeps the backbone's running statistics (always in eval mode), as the frozen backbone.
    """

    def __init__(self, backbone: nn.Module, lateral_c5: nn.Conv2d, lateral_c4: nn.Conv2d, counts: tuple[int, int],
                 levels: str, num_features: int):
        super().__init__(levels)
        self.counts = tuple(int(c) for c in counts)
        c4_blocks, c5_blocks = stage_blocks(backbone, self.counts)
        self.c4_blocks = nn.Sequential(*(copy.deepcopy(b) for b in c4_blocks))
        self.c5_blocks = nn.Sequential(*(copy.deepcopy(b) for b in c5_blocks))
        self.lateral5 = copy.deepcopy(lateral_c5)
        self.gate5 = _gate(num_features)
        if levels == "P4P5":
            self.lateral4 = copy.deepcopy(lateral_c4)
            self.gate4 = _gate(num_features)

    def copy_from(self, backbone: nn.Module, lateral_c5: nn.Conv2d, lateral_c4: nn.Conv2d) -> None:
        """Start the shallow pass from the (trained) backbone's own blocks and FPN laterals."""
        c4_blocks, c5_blocks = stage_blocks(backbone, self.counts)
        for mine, theirs in zip((*self.c4_blocks, *self.c5_blocks), (*c4_blocks, *c5_blocks)):
            mine.load_state_dict(theirs.state_dict())
        self.lateral5.load_state_dict(lateral_c5.state_dict())
        if self.levels == "P4P5":
            self.lateral4.load_state_dict(lateral_c4.state_dict())

    def train(self, mode: bool = True) -> "FreshTop":
        super().train(mode)
        self.c4_blocks.eval()
        self.c5_blocks.eval()
        return self

    def forward(self, c3: torch.Tensor, w4: torch.Tensor, w5: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(refreshed W4, refreshed W5, M4 estimate or None, M5 estimate)."""
        m4, m5 = self.estimate(c3, w4, w5)
        return (*self.blend(w4, w5, m4, m5), m4, m5)
