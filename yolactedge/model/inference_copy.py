"""A faster copy of a network for inference: BatchNorm folded into convolutions, channels_last.

Why a copy: folding removes the ``bn*`` modules, so the copy's state dict no longer has the
original checkpoint names; the loaded model stays as it is (for saving, export and training).

Measured on a 2-core CPU at 550x550 (BENCHMARKS.md): the early ResNet stages (C1-C3, 64-256
channels at 275x275 and 138x138) are memory-bound; in NCHW every convolution reorders its
input and output to oneDNN's blocked layout and every BatchNorm is one more pass over the
activations. channels_last avoids the reorders, folding avoids the passes. Outputs equal the
loaded model's up to float rounding (~1e-6).
"""
from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval


def fold_batchnorm(model: nn.Module) -> int:
    """Fold every eval-mode BatchNorm2d that directly follows a Conv2d into it, in place.

    Pairs are found by the two conventions the backbones use: ``convN`` / ``bnN`` attributes of one
    module, and a Conv2d immediately followed by a BatchNorm2d in an ``nn.Sequential``. Returns the
    number of folded layers; other BatchNorms are left as they are (still correct, just not faster).
    """
    if model.training:
        raise ValueError("fold_batchnorm needs a model in eval mode (folding uses the running statistics)")
    folded = 0
    for module in list(model.modules()):
        children = dict(module.named_children())
        if isinstance(module, nn.Sequential):
            for index in range(len(module) - 1):
                conv, bn = module[index], module[index + 1]
                if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                    module[index], module[index + 1] = fuse_conv_bn_eval(conv, bn), nn.Identity()
                    folded += 1
            continue
        for name, bn in children.items():
            conv = children.get("conv" + name[2:]) if name.startswith("bn") else None
            if isinstance(bn, nn.BatchNorm2d) and isinstance(conv, nn.Conv2d):
                setattr(module, "conv" + name[2:], fuse_conv_bn_eval(conv, bn))
                setattr(module, name, nn.Identity())
                folded += 1
    return folded


def inference_copy(model: nn.Module, channels_last: bool = True) -> nn.Module:
    """An eval-mode deep copy with BatchNorm folded and (optionally) channels_last weights.

    Feed it channels_last inputs (``x.contiguous(memory_format=torch.channels_last)``) for the
    speed-up; NCHW inputs give the same results.
    """
    runtime = copy.deepcopy(model).eval()
    for param in runtime.parameters():
        param.requires_grad_(False)
    fold_batchnorm(runtime)
    if channels_last:
        runtime = runtime.to(memory_format=torch.channels_last)
    return runtime
