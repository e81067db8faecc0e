"""When to run the full network on a video frame (keyframe) and when to warp from the last one."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class KeyframePolicy:
    """``interval``: a keyframe every N frames (the original: 5; 1 = every frame is a keyframe).

    ``adaptive``: additionally start a new keyframe early when the scene changes: the mean absolute
    difference of a small grayscale thumbnail against the last keyframe's exceeds
    ``change_thresh`` (0-255 scale). Cheap (a 64x36 thumbnail) and catches cuts and fast motion.
    """

    interval: int = 5
    adaptive: bool = False
    change_thresh: float = 12.0
    thumb_size: tuple[int, int] = (64, 36)

    def __post_init__(self) -> None:
        if self.interval < 1:
            raise ValueError(f"keyframe interval must be >= 1, got {self.interval}")


class KeyframeScheduler:
    """Stateful: call ``decide(frame)`` once per frame, in order."""

    def __init__(self, policy: KeyframePolicy | int = 5):
        self.policy = policy if isinstance(policy, KeyframePolicy) else KeyframePolicy(interval=int(policy))
        self.reset()

    def reset(self) -> None:
        self.since_key = 0
        self._key_thumb: np.ndarray | None = None
        self.num_keyframes = 0
        self.num_frames = 0

    def _thumb(self, frame: np.ndarray) -> np.ndarray:
        import cv2

        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
        return cv2.resize(gray, self.policy.thumb_size, interpolation=cv2.INTER_AREA).astype(np.float32)

    def scene_change(self, frame: np.ndarray) -> float:
        if self._key_thumb is None:
            return float("inf")
        return float(np.abs(self._thumb(frame) - self._key_thumb).mean())

    def decide(self, frame: np.ndarray | None = None) -> bool:
        """True when this frame must be a keyframe; also records it as such."""
        first = self.num_frames == 0
        due = first or self.since_key >= self.policy.interval
        if not due and self.policy.adaptive and frame is not None:
            due = self.scene_change(frame) > self.policy.change_thresh
        self.num_frames += 1
        if due:
            self.since_key = 1
            self.num_keyframes += 1
            if self.policy.adaptive and frame is not None:
                self._key_thumb = self._thumb(frame)
        else:
            self.since_key += 1
        return due
