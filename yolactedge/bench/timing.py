"""The timed loop: every engine over the same frames, interleaved round by round.

Each frame goes through ``YolactEdge.predict_frame`` (the ``predict`` path) and, optionally,
drawing and video encoding, so the times are what a deployment sees. The engine's own per-
component timers (``last_stage_times``) give the split of the inference stage.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from yolactedge.config.schema import ModelConfig
from yolactedge.bench.engines import EngineRow
from yolactedge.bench.inputs import BenchInput, BenchmarkError
from yolactedge.bench.report import PassRecord


def time_rows(rows: list[EngineRow], config: ModelConfig, inputs: BenchInput, *, rounds: int, warmup: int,
              interval: int, conf: float, draw: bool, encode_dir: Path | None, show_progress: bool,
              say: Callable[[str], None]) -> list[list[PassRecord]]:
    """Warm every engine (``warmup`` frames), then ``rounds`` x engines passes, engines interleaved
    within each round so a machine that slows down mid-run slows every engine alike."""
    from yolactedge.api.keyframes import KeyframePolicy
    from yolactedge.api.predictor import YolactEdge
    from yolactedge.runtime.progress import progress

    policy = KeyframePolicy(interval=interval)
    predictors = [YolactEdge(r.engine, config) for r in rows]
    say(f"timing {len(rows)} engine(s): {warmup} warm-up frames each, then {rounds} rounds of {inputs.count} frames")
    for row, predictor in zip(rows, predictors):
        done = 0
        while done < warmup:  # passes repeat when the source has fewer frames than the warm-up
            ran = _one_pass(predictor, row, inputs, policy, conf, draw, None, None, limit=warmup - done)
            if ran == 0:
                break
            done += ran
    passes: list[list[PassRecord]] = [[] for _ in rows]
    jobs = [(r, i) for r in range(rounds) for i in range(len(rows))]
    for _, i in progress(jobs, desc="benchmark", unit="pass", enabled=show_progress):
        record = PassRecord()
        sink = encode_dir / f"{rows[i].backend}-{i}.avi" if encode_dir is not None else None
        _one_pass(predictors[i], rows[i], inputs, policy, conf, draw, record, sink)
        if record.frames == 0:
            raise BenchmarkError(f"source {inputs.description}: no frame could be read")
        passes[i].append(record)
    return passes


def _one_pass(predictor: Any, row: EngineRow, inputs: BenchInput, policy: Any, conf: float, draw: bool,
              record: PassRecord | None, sink_path: Path | None, limit: int | None = None) -> int:
    """One engine over the frames of one pass (``record`` None: warm-up). Returns frames run."""
    from yolactedge.api.video_io import VideoSink

    predictor.reset_video()
    sink = None
    ran = 0
    try:
        for frame, decode_ms in inputs.frames():
            if limit is not None and ran >= limit:
                break
            ran += 1
            if sink_path is not None and sink is None:  # opening the file is not per-frame work
                height, width = frame.image.shape[:2]
                sink = VideoSink(sink_path, frame.fps or inputs.fps, (width, height))
            t0 = time.perf_counter()
            result = predictor.predict_frame(frame, conf=conf, policy=policy)
            t1 = time.perf_counter()
            drawn = result.plot() if draw else frame.image
            t2 = time.perf_counter()
            if sink is not None:
                sink.write(drawn)
            t3 = time.perf_counter()
            if record is None:
                continue
            stages = {"decode": decode_ms} if inputs.from_files else {}
            stages.update(result.speed)
            stages["other"] = max((t1 - t0) * 1e3 - sum(result.speed.values()), 0.0)  # Results, host copies
            if draw:
                stages["draw"] = (t2 - t1) * 1e3
            if sink is not None:
                stages["encode"] = (t3 - t2) * 1e3
            record.add(decode_ms + (t3 - t0) * 1e3, bool(result.keyframe), stages, row.engine.last_stage_times)
    finally:
        if sink is not None:
            sink.close()
    return ran
