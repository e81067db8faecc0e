"""``ComponentPipeline``: component engines chained into one ``Engine`` (same contract as PyTorch).

Keyframe:     backbone -> fpn_phase_1 (-> flow_pre, video) -> fpn_phase_2 -> proto + head
Non-keyframe: partial_backbone -> lateral -> flow -> transform -> fpn_phase_2 -> proto + head

Tensors move between components by name (see ``components.py``); the keyframe cache enters as
``key_m4``, ``key_m5``, ``key_flow_features``. Priors come from the model's ``PriorCache`` for the
actual level sizes, so they are exactly what PyTorch produces.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Mapping

import torch

from yolactedge.config.schema import ModelConfig
from yolactedge.deploy.backends.base import ComponentRunner
from yolactedge.deploy.components import component_specs, level_names
from yolactedge.model.outputs import KeyframeState, YolactOutput
from yolactedge.model.priors import PriorCache

KEYFRAME_PATH = ("backbone", "fpn_phase_1", "flow_pre")
NONKEY_PATH = ("partial_backbone", "lateral", "flow", "transform")
SHARED_PATH = ("fpn_phase_2", "proto", "head")


@dataclass
class PipelineTrace:
    """Every named tensor one pass produced (and which components ran): calibration and parity data."""

    kind: str  # "key" or "nonkey"
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    ran: list[str] = field(default_factory=list)


class ComponentPipeline:
    """Implements the ``Engine`` protocol over per-component runners of any backend."""

    def __init__(
        self, runners: Mapping[str, ComponentRunner], config: ModelConfig, *, backend: str,
        device: torch.device | str = "cpu", batch: int | None = 1, requested: Mapping[str, str] | None = None,
    ):
        specs = component_specs(config)
        missing = [n for n in specs if n not in runners]
        if missing:
            raise ValueError(f"pipeline for {config.name} misses components: {', '.join(missing)}")
        self.runners = dict(runners)
        self.specs = specs
        self.config = config
        self.backend = backend
        self.device = torch.device(device)
        self.batch = batch  # the engines' static batch; None = any
        self.requested = dict(requested or {})
        self.priors = PriorCache(config.anchors.scales, config.anchors.aspect_ratios, config.input_size,
                                 config.anchors.square_anchors)
        self._times: dict[str, float] = {}

    # -- Engine protocol ------------------------------------------------------------------------
    @property
    def is_video(self) -> bool:
        return self.config.is_video

    @property
    def precision(self) -> dict[str, str]:
        """Effective precision per component (what runs, after backend fallbacks)."""
        return {name: runner.precision for name, runner in self.runners.items()}

    @property
    def last_stage_times(self) -> dict[str, float]:
        """Milliseconds per component of the last ``infer`` call."""
        return dict(self._times)

    def infer(self, batch: torch.Tensor, keyframe_state: KeyframeState | None = None, *,
              reuse_prototypes: bool | None = None, reuse_heads: float | None = None) -> YolactOutput:
        check_original_scheme(self.backend, reuse_prototypes, reuse_heads)
        return self.trace(batch, keyframe_state)[0]

    # -- implementation ---------------------------------------------------------------------------
    def trace(self, batch: torch.Tensor, keyframe_state: KeyframeState | None = None) -> tuple[YolactOutput, PipelineTrace]:
        """``infer`` that also returns every intermediate tensor."""
        self._check_input(batch)
        if self.batch is not None and batch.shape[0] != self.batch:
            if self.batch != 1:
                raise ValueError(
                    f"batch {batch.shape[0]} but the engines were exported for batch {self.batch}; "
                    f"re-export with --batch {batch.shape[0]} or pass batches of {self.batch}"
                )
            return self._per_item(batch, keyframe_state)
        self._times = {}
        if keyframe_state is None:
            trace = PipelineTrace("key", {"image": batch})
            path = [n for n in KEYFRAME_PATH if n in self.runners]
        else:
            if not self.is_video:
                raise ValueError("keyframe_state given, but this export has no flow components (not a video preset)")
            trace = PipelineTrace("nonkey", {"image": batch, **self._state_tensors(keyframe_state)})
            path = list(NONKEY_PATH)
        for name in (*path, *SHARED_PATH):
            self._run(name, trace)
        t = trace.tensors
        levels = [t[n] for n in level_names(self.config)]
        start = time.perf_counter()
        priors = self.priors([tuple(level.shape[-2:]) for level in levels], t["loc"].device, t["loc"].dtype)
        self._times["priors"] = (time.perf_counter() - start) * 1e3
        state = keyframe_state
        if keyframe_state is None and self.is_video:
            state = KeyframeState(
                feats=(t["m3"], t["m4"], t["m5"]), lateral=t["l3"], flow_features=t["flow_features"],
                proto=t["proto"], levels=tuple(levels),
            )
        out = YolactOutput(t["loc"], t["conf"], t["coef"], priors, t["proto"], None, state)
        return out, trace

    def _run(self, name: str, trace: PipelineTrace) -> None:
        spec = self.specs[name]
        start = time.perf_counter()
        outputs = self.runners[name]({n: trace.tensors[n] for n in spec.inputs})
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self._times[name] = (time.perf_counter() - start) * 1e3
        trace.tensors.update(outputs)
        trace.ran.append(name)

    def _state_tensors(self, state: KeyframeState) -> dict[str, torch.Tensor]:
        """The keyframe cache as component inputs; the pre-conv is recomputed only if not cached."""
        flow_features = state.flow_features
        if flow_features is None:
            flow_features = self.runners["flow_pre"]({"l3": state.lateral})["flow_features"]
        return {"key_m4": state.feats[1], "key_m5": state.feats[2], "key_flow_features": flow_features}

    def _check_input(self, batch: torch.Tensor) -> None:
        want = tuple(self.config.input_size)
        if batch.dim() != 4 or batch.shape[1] != 3 or tuple(batch.shape[-2:]) != want:
            raise ValueError(
                f"input of shape {tuple(batch.shape)} but the engines were exported for [N,3,{want[0]},{want[1]}]; "
                "preprocess with the export's config (YolactEdge.load(folder) does) or re-export with --imgsz"
            )

    def _per_item(self, batch: torch.Tensor, state: KeyframeState | None) -> tuple[YolactOutput, PipelineTrace]:
        """Batch-1 engines on a larger batch: one image at a time, outputs concatenated."""
        outs, times = [], {}
        for i in range(batch.shape[0]):
            item_state = None if state is None else _slice_state(state, i)
            outs.append(self.trace(batch[i:i + 1], item_state)[0])
            for k, v in self._times.items():
                times[k] = times.get(k, 0.0) + v
        self._times = times
        merged_state = _cat_states([o.state for o in outs]) if outs[0].state is not None else None
        cat = lambda xs: torch.cat(xs, 0)  # noqa: E731
        out = YolactOutput(cat([o.loc for o in outs]), cat([o.conf for o in outs]), cat([o.mask for o in outs]),
                           outs[0].priors, cat([o.proto for o in outs]), None, merged_state)
        return out, PipelineTrace("key" if state is None else "nonkey")


def check_original_scheme(backend: str, reuse_prototypes: bool | None, reuse_heads: float | None) -> None:
    """Exported engines run the original non-keyframe scheme only; say so instead of ignoring the option."""
    if reuse_prototypes or reuse_heads is not None:
        raise ValueError(
            f"prototype/head reuse runs on the PyTorch backend only; this {backend} export runs the original "
            "non-keyframe scheme (warp P4/P5, ProtoNet and heads on every frame). Load the .pt checkpoint "
            "for reuse, or drop reuse_prototypes/reuse_heads (--reuse-prototypes/--reuse-heads)")


def _cat_states(states: list[KeyframeState]) -> KeyframeState:
    """Per-image keyframe states -> one batched state (tuples of tensors field by field)."""
    def cat(values):
        if values[0] is None:
            return None
        if isinstance(values[0], tuple):
            return tuple(cat([v[j] for v in values]) for j in range(len(values[0])))
        return torch.cat(values, 0)
    return KeyframeState(*(cat([getattr(s, f) for s in states]) for f in KeyframeState._fields))


def _slice_state(state: KeyframeState, i: int) -> KeyframeState:
    def pick(value):
        if value is None:
            return None
        if isinstance(value, tuple):
            return tuple(pick(v) for v in value)
        return value[i:i + 1] if value.shape[0] > 1 else value
    return KeyframeState(*(pick(getattr(state, f)) for f in KeyframeState._fields))
