"""Original YOLACT / YolactEdge state dicts: key conversion and checked loading."""
from __future__ import annotations

import logging
import re
from typing import Mapping

import torch
from torch import nn

from yolactedge.checkpoints.io import CheckpointError

log = logging.getLogger(__name__)

VIDEO_PREFIXES = ("flow_net.", "flow_net_pre_convs.", "spa.", "fresh_top.")


def is_yolact_v1_layout(state_dict: Mapping[str, torch.Tensor]) -> bool:
    return any(k.startswith("fpn.") for k in state_dict)


def convert_yolact_state_dict(state_dict: Mapping[str, torch.Tensor], num_downsample: int = 2) -> dict[str, torch.Tensor]:
    """YOLACT v1 keys -> YolactEdge keys (idempotent; YolactEdge dicts pass through unchanged).

    ``fpn.lat_layers.*`` -> ``fpn_phase_1.lat_layers.*``; other ``fpn.*`` -> ``fpn_phase_2.*``;
    legacy ``backbone.layer<N>`` keys and unused extra downsample layers are dropped.
    """
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        if key.startswith("backbone.layer") and not key.startswith("backbone.layers"):
            continue
        match = re.match(r"fpn\.downsample_layers\.(\d+)\.", key)
        if match and int(match.group(1)) >= num_downsample:
            continue
        if key.startswith("fpn.lat_layers."):
            key = "fpn_phase_1." + key[len("fpn."):]
        elif key.startswith("fpn."):
            key = "fpn_phase_2." + key[len("fpn."):]
        out[key] = value
    return out


def _mismatch_hint(key: str, got: torch.Size, want: torch.Size) -> str:
    if "conf_layer" in key and len(got) == 4 and len(want) == 4:
        anchors = 3
        return (
            f"checkpoint has {got[0] // anchors} classes (incl. background), config expects "
            f"{want[0] // anchors}: pass the matching config/--num-classes, or fine-tune with "
            "finetune=True to re-initialise the class and semantic heads"
        )
    if key.startswith("semantic_seg_conv"):
        return (f"checkpoint has {got[0]} foreground classes, config expects {want[0]}: pass the matching config, "
                "or fine-tune with finetune=True")
    if key.startswith("backbone."):
        return "the checkpoint was trained with a different backbone: choose the config whose backbone matches"
    if key.startswith("fpn_phase_1.lat_layers"):
        return "the FPN lateral widths differ: the checkpoint belongs to a different backbone or FPN width"
    return "the checkpoint belongs to a different architecture or size: choose the matching config"


def check_state_dict(
    model: nn.Module, state_dict: Mapping[str, torch.Tensor], *, finetune: bool = False, allow_missing_video: bool = False
) -> dict[str, torch.Tensor]:
    """Validate keys and shapes; returns the dict to load. Raises ``CheckpointError`` naming the
    first problems and their likely cause; never re-initialises silently.

    ``finetune`` drops class-count-dependent tensors (class/semantic heads) that differ in shape,
    so they keep their fresh initialisation, and says so. ``allow_missing_video`` lets an image
    checkpoint initialise a video model (flow modules keep their init: stage 2 of the recipe).
    """
    target = model.state_dict()
    if any(k.startswith("maskiou_net.") for k in state_dict) or any(".dcn" in k or "conv_offset" in k for k in state_dict):
        raise CheckpointError("this is a YOLACT++ checkpoint (mask re-scoring / deformable convs): not compatible with "
                              "YOLACT/YolactEdge models")
    state = dict(state_dict)
    unexpected = [k for k in state if k not in target]
    video_extra = [k for k in unexpected if k.startswith(VIDEO_PREFIXES)]
    if video_extra and len(video_extra) == len(unexpected):
        raise CheckpointError(
            f"this checkpoint contains a flow/warping module ({len(video_extra)} keys such as {video_extra[0]!r}): "
            "it is a video model; load it with a video config (e.g. yolact_edge_vid_config)"
        )
    if unexpected:
        raise CheckpointError(f"{len(unexpected)} unknown keys in the checkpoint, e.g. {unexpected[:3]}: "
                              "it belongs to a different model; choose the matching config")
    problems, dropped = [], []
    for key, value in state.items():
        want = target[key].shape
        if value.shape != want:
            head = key.startswith(("prediction_layers.0.conf_layer", "semantic_seg_conv"))
            if finetune and head:
                dropped.append(key)
                continue
            problems.append(f"{key}: checkpoint {tuple(value.shape)} vs model {tuple(want)} ({_mismatch_hint(key, value.shape, want)})")
    if problems:
        more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
        raise CheckpointError("shape mismatch: " + "; ".join(problems[:3]) + more)
    for key in dropped:
        del state[key]
        log.warning("fine-tuning: %s re-initialised (class count differs)", key)
    # Files from before PyTorch 0.4 lack BatchNorm counters; they carry no weights.
    missing = [k for k in target if k not in state and k not in dropped and not k.endswith("num_batches_tracked")]
    if allow_missing_video:
        video_missing = [k for k in missing if k.startswith(VIDEO_PREFIXES)]
        if video_missing:
            log.warning("%d flow/SPA tensors not in the checkpoint keep their initialisation", len(video_missing))
        missing = [k for k in missing if not k.startswith(VIDEO_PREFIXES)]
    if missing:
        hint = ""
        if all(k.startswith(VIDEO_PREFIXES) for k in missing):
            hint = " (an image checkpoint for a video config: pass allow_missing_video=True to start flow training)"
        raise CheckpointError(f"{len(missing)} model tensors missing from the checkpoint, e.g. {missing[:3]}{hint}")
    return state


def load_original_state_dict(
    model: nn.Module, state_dict: Mapping[str, torch.Tensor], *, num_downsample: int = 2,
    finetune: bool = False, allow_missing_video: bool = False,
) -> None:
    """Load an original YOLACT v1 or YolactEdge state dict into ``model`` (converting YOLACT keys)."""
    if is_yolact_v1_layout(state_dict):
        log.info("Converted YOLACT FPN weights to the YolactEdge two-phase FPN")
    state = check_state_dict(
        model, convert_yolact_state_dict(state_dict, num_downsample), finetune=finetune,
        allow_missing_video=allow_missing_video,
    )
    model.load_state_dict(state, strict=False)  # keys and shapes were checked above
