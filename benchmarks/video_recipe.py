"""The video acceptance measurement (issue 4), reproducible end to end: the three-stage recipe on
generated data, mAP per keyframe distance for each non-keyframe scheme, and end-to-end video FPS.

    python benchmarks/video_recipe.py --out runs/video_recipe     # defaults: ~41 min on a 2-core Xeon

Every step is the CLI command a user would type (run as a subprocess; all of them are written to
``OUT/commands.sh``), except the FPS measurement, which goes through the Python API as an
application would:

  data-video  ``yolactedge synth video``: YouTube-VIS-format videos, 320x320 frames (the image
              model's input size), the image benchmark's 8 shape classes (checked against stage 1)
  data-flow   ``yolactedge synth flow``: FlyingChairs-format pairs with exact flow, 320x320
  stage 1     the given image checkpoint (default: the bundled demo model, ``yolact_edge_demo_config``,
              ResNet-18 at half width, 320 px, trained on ``yolactedge synth images``)
  flow        stage 2: ``yolactedge train-video --stage flow --init STAGE1``
  joint       stage 3: ``yolactedge train-video --stage joint --init flow/last.pt --fresh-lite 128 256``:
              with a small top that corrects the warped P4/P5 from the current frame (ours, 0.61-0.63x
              of an R-101 keyframe against the original's 0.58-0.59x; the only measured way into the
              2-point target on this benchmark, BENCHMARKS.md); ``--original-scheme``: the paper's stage 3
  eval-*      ``yolactedge val-video`` with keyframe interval k (default 5): mAP at keyframe distance
              0..k-1 (0 = every annotated frame a keyframe: the all-keyframe mAP) for the original
              scheme (warp P4/P5; ProtoNet and heads on every frame), + prototype reuse, + prototype
              and head reuse; and the stage-1 image model with every frame a keyframe
  slow motion the same val videos replayed at ``--slow-motion`` scales (default 0.25: ``synth video
              --motion-scale 0.25``, about the speed of real clips, BENCHMARKS.md), original scheme;
              the benchmark itself moves about 4x faster than those clips
  fps         ``YolactEdge.predict`` on the val videos encoded as .avi (decode + inference + drawing),
              keyframe interval 1 vs k per scheme, passes interleaved, median of rounds
  report      ``OUT/report.md`` (markdown tables for BENCHMARKS.md) and ``OUT/results.json``

Each step writes into its own folder under ``--out`` and a ``stage.json`` when it finishes; a
finished step is skipped when run again with the same command (a different command is an error:
pass ``--force STEP`` or another ``--out``). An interrupted training stage resumes from its
``last.pt``/``interrupt.pt``. ``--force`` alone redoes everything.

Sizes and seeds (defaults): 96 training + 12 val videos of 30 frames (every 5th annotated: 72 val
frames with ground truth; the val videos do not depend on the number of training videos), video seed 0;
4000 flow pairs (10% val), flow seed 1; training seed 0; stage 2: 3000 iterations x 8 pairs, stage 3:
2400 iterations x 8 videos, both AdamW with a cosine schedule, bf16 autocast + channels_last where
bfloat16 is native (else float32); FPS on 3 val videos (90 frames per pass). Stage 3 needs the videos:
with 24 the mean mAP over distances 1-4 lost 3.5 points against all keyframes, with 96 2.1 (BENCHMARKS.md).

Duration, measured (2 cores): Intel Xeon Sapphire Rapids (AMX bfloat16): data 4.1, stage 2 10.8
(0.22 s/it), stage 3 about 24 (the fresh top's 3000-iteration warm-up on frame pairs, ~6, then 2400
iterations at ~0.45 s/it), evaluation 1.6, FPS 0.7 minutes. AMD EPYC Zen 3 (AVX2, float32), before
stage 3 had the fresh top: 88 min - data 4.4, stage 2 41.5 (0.82 s/it), stage 3 37.1 (1.85 s/it),
evaluation 3.6, FPS 2.0 minutes.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import interleaved, machine  # noqa: E402

SCHEMES = {
    "original": ("non-keyframe, original scheme (warp P4/P5 [+ the model's fresh top], ProtoNet + heads on every "
                 "frame)", []),
    "proto": ("+ prototype reuse (keyframe prototypes warped)", ["--reuse-prototypes"]),
    "proto_heads": ("+ prototype reuse + heads only on changed levels", ["--reuse-prototypes", "--reuse-heads"]),
}
RECIPE_FRESH_LITE = (128, 256)  # stage 3's fresh top (train-video --fresh-lite), unless --original-scheme
STEPS = ("data-video", "data-flow", "flow", "joint", "eval", "fps")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="runs/video_recipe", help="root of every step's folder")
    p.add_argument("--stage1", default=None, help="stage-1 image checkpoint (default: the bundled demo model)")
    p.add_argument("--force", nargs="*", choices=STEPS, default=None, metavar="STEP",
                   help=f"redo these steps ({', '.join(STEPS)}); no value: all")
    p.add_argument("--device", default="auto")
    p.add_argument("--workers", type=int, default=1, help="data-loading processes of the training stages")
    d = p.add_argument_group("data")
    d.add_argument("--size", type=int, default=320, help="frame / flow pair size (square)")
    d.add_argument("--videos", type=int, default=96, help="training videos")
    d.add_argument("--val-videos", type=int, default=12)
    d.add_argument("--frames", type=int, default=30, help="frames per video")
    d.add_argument("--annotate-every", type=int, default=5)
    d.add_argument("--video-seed", type=int, default=0)
    d.add_argument("--flow-pairs", type=int, default=4000)
    d.add_argument("--flow-val-fraction", type=float, default=0.1)
    d.add_argument("--flow-seed", type=int, default=1)
    t = p.add_argument_group("training (stages 2 and 3; --lr is for a batch of 8, scaled linearly)")
    t.add_argument("--flow-iters", type=int, default=3000)
    t.add_argument("--flow-batch", type=int, default=8)
    t.add_argument("--flow-lr", type=float, default=1e-3)
    t.add_argument("--joint-iters", type=int, default=2400,
                   help="stage 3 iterations (1200 until 2026-12-07; the fresh top, trained from scratch, gains from "
                        "2400, BENCHMARKS.md)")
    t.add_argument("--joint-batch", type=int, default=8)
    t.add_argument("--joint-lr", type=float, default=1e-4)
    t.add_argument("--joint-images", default=None, metavar="COCO_ROOT",
                   help="stage 3: a COCO-format image set mixed into every iteration, as the original mixes "
                        "COCO into YouTube-VIS (e.g. the stage-1 data, `yolactedge synth images`)")
    t.add_argument("--joint-images-batch", type=int, default=None,
                   help="images of --joint-images per iteration (default --joint-batch)")
    t.add_argument("--original-scheme", action="store_true",
                   help="stage 3 trains the paper's non-keyframe path (no fresh top)")
    t.add_argument("--fresh-lite", type=int, nargs=2, default=None, metavar=("W16", "W32"),
                   help=f"widths of stage 3's fixed-width fresh top (default {' '.join(map(str, RECIPE_FRESH_LITE))}), "
                        "see train-video --fresh-lite")
    t.add_argument("--fresh-lite-input", choices=("c3", "c3+warp"), default=None,
                   help="what it reads (default c3+warp), see train-video --fresh-lite-input")
    t.add_argument("--fresh-warmup", type=int, default=None, metavar="ITERS",
                   help="stage 3's fresh-top warm-up (default: train-video's, 3000 for --fresh-lite)")
    t.add_argument("--fresh-blocks", type=int, nargs=2, default=None, metavar=("C4", "C5"),
                   help="stage 3 trains fresh top levels from copies of the backbone's blocks instead, see "
                        "train-video --fresh-blocks")
    t.add_argument("--fresh-levels", choices=("P5", "P4P5"), default="P4P5")  # flow.fresh_levels
    t.add_argument("--optimizer", choices=("sgd", "adamw"), default="adamw",
                   help="both stages (the original's SGD at 2e-4 needs its 200k-iteration schedule)")
    t.add_argument("--warmup-iters", type=int, default=50)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--amp", choices=("auto", "off", "bf16"), default="auto",
                   help="bf16: stages 2 and 3 in bfloat16 autocast + channels_last (~2x faster on AVX512-BF16 CPUs, "
                        "~20x slower where bfloat16 is emulated); auto: bf16 on CUDA or a CPU with native bfloat16")
    e = p.add_argument_group("evaluation")
    e.add_argument("--keyframe-interval", type=int, default=5, help="k: distances 0..k-1 and the FPS comparison")
    e.add_argument("--head-thresh", type=float, default=0.05,
                   help="head reuse: relative change of an FPN level below which its head outputs are reused")
    e.add_argument("--eval-videos", type=int, default=None, help="evaluate the first N val videos (default all)")
    e.add_argument("--slow-motion", type=float, nargs="*", default=[0.25], metavar="S",
                   help="also evaluate the original scheme on the val videos replayed at these motion scales "
                        "(`synth video --motion-scale S`: same scenes, S times the motion per frame; 0.25 moves "
                        "about as fast as the real clips measured by benchmarks/video_motion.py); none: skip")
    f = p.add_argument_group("FPS (Python API, decode + inference + drawing)")
    f.add_argument("--fps-videos", type=int, default=3, help="first N val videos, encoded as .avi")
    f.add_argument("--fps-rounds", type=int, default=3, help="interleaved rounds (median), after one warm-up pass")
    f.add_argument("--fps-conf", type=float, default=0.2)
    f.add_argument("--threads", type=int, default=None, help="torch threads for FPS (default min(2, cores))")
    args = p.parse_args(argv)
    if args.keyframe_interval < 2:
        p.error("--keyframe-interval must be >= 2 (distances 1..k-1 are the point)")
    if args.fresh_blocks is not None and (args.fresh_lite is not None or args.fresh_lite_input is not None):
        p.error("--fresh-blocks and --fresh-lite are two kinds of fresh top: pass one")
    if args.original_scheme and (args.fresh_blocks or args.fresh_lite or args.fresh_lite_input
                                 or args.fresh_warmup is not None):
        p.error("--original-scheme trains no fresh top: drop --fresh-blocks / --fresh-lite / --fresh-lite-input / "
                "--fresh-warmup")
    if not args.original_scheme and args.fresh_blocks is None and args.fresh_lite is None:
        args.fresh_lite = list(RECIPE_FRESH_LITE)
    if any(not 0 < s <= 1 for s in args.slow_motion):
        p.error(f"--slow-motion scales must be in (0, 1], got {args.slow_motion}")
    if args.amp == "auto":
        args.amp = "bf16" if native_bf16(args.device) else "off"
    return args


def native_bf16(device: str) -> bool:
    import torch

    from yolactedge.train.precision import cpu_has_bf16

    if device == "auto":
        return torch.cuda.is_available() or cpu_has_bf16()
    return device.startswith("cuda") or (device == "cpu" and cpu_has_bf16())


class Recipe:
    """Runs the steps in order; owns the output layout, the skip/resume rules and the command log."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.out = Path(args.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.force = set(STEPS if args.force == [] else args.force or ())
        self.commands: list[str] = []
        self.cli = self._cli_prefix()
        self.upstream_ran = False  # once a step runs, every later step is redone (its inputs changed)

    @staticmethod
    def _cli_prefix() -> list[str]:
        """The ``yolactedge`` console script of this interpreter's environment (what a user runs)."""
        script = Path(sys.executable).parent / "yolactedge"
        return [str(script)] if script.is_file() else [sys.executable, "-m", "yolactedge.cli.main"]

    # -- bookkeeping ---------------------------------------------------------------------------
    def folder(self, name: str) -> Path:
        return self.out / name

    def done(self, step: str, folder: Path, command: str) -> bool:
        """True when ``folder`` holds a finished run of ``command``; clears it under --force or when an
        earlier step ran in this invocation."""
        marker = folder / "stage.json"
        if step in self.force or self.upstream_ran:
            if folder.exists():
                shutil.rmtree(folder)
            return False
        if not marker.is_file():
            return False
        recorded = json.loads(marker.read_text()).get("command")
        if recorded != command:
            raise SystemExit(f"error: {folder} was made by a different command:\n  {recorded}\nnow:\n  {command}\n"
                             f"pass --force {step} to redo it, or another --out")
        print(f"[skip] {folder.name}: done ({marker})")
        return True

    def finish(self, folder: Path, command: str, seconds: float) -> None:
        self.upstream_ran = True
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "stage.json").write_text(json.dumps({"command": command, "seconds": round(seconds, 1),
                                                       "finished": time.strftime("%Y-%m-%d %H:%M:%S")}, indent=1))

    def command(self, parts: list[Any]) -> tuple[list[str], str]:
        """(argv to run, the line a user types)."""
        words = [str(p) for p in parts]
        return [*self.cli, *words], shlex.join(["yolactedge", *words])

    def run(self, step: str, folder: Path, parts: list[Any], resume: Callable[[], list[Any] | None] | None = None
            ) -> float:
        """Run one CLI step unless it is done; returns its wall seconds (0 when skipped)."""
        argv, line = self.command(parts)
        self.commands.append(line)
        if self.done(step, folder, line):
            return 0.0
        folder.mkdir(parents=True, exist_ok=True)
        extra = resume() if resume is not None else None
        if extra is not None:
            argv, shown = self.command(extra)
            self.commands.append(f"# resumed with: {shown}")
        print(f"\n[run] {shlex.join(['yolactedge', *argv[len(self.cli):]])}", flush=True)
        start = time.perf_counter()
        with open(folder / "log.txt", "a") as log:
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
            assert proc.stdout is not None
            for text in proc.stdout:
                sys.stdout.write(text)
                log.write(text)
            code = proc.wait()
        seconds = time.perf_counter() - start
        if code != 0:
            raise SystemExit(f"error: step {folder.name} failed (exit {code}); its output is in {folder / 'log.txt'}")
        self.finish(folder, line, seconds)
        return seconds

    # -- steps ---------------------------------------------------------------------------------
    def data(self) -> tuple[Path, Path]:
        a = self.args
        video, flow = self.folder("data_video"), self.folder("data_flow")
        self.run("data-video", video, ["synth", "video", video, "--size", a.size, "--videos", a.videos,
                                       "--val-videos", a.val_videos, "--frames", a.frames,
                                       "--annotate-every", a.annotate_every, "--seed", a.video_seed, "--quiet"])
        self.run("data-flow", flow, ["synth", "flow", flow, "--size", a.size, "--pairs", a.flow_pairs,
                                     "--val-fraction", a.flow_val_fraction, "--seed", a.flow_seed, "--quiet"])
        return video, flow

    def check_classes(self, stage1: Path, video: Path) -> None:
        """The video data must have stage 1's classes (the synthetic generators share ``SHAPE_CLASSES``)."""
        from yolactedge.checkpoints import read_checkpoint

        names = tuple(read_checkpoint(stage1).config.class_names)
        categories = json.loads((video / "train" / "annotations.json").read_text())["categories"]
        theirs = tuple(c["name"] for c in sorted(categories, key=lambda c: c["id"]))
        if names != theirs:
            raise SystemExit(f"error: stage 1 ({stage1}) has classes {names}, the video data {theirs}")

    def train(self, stage: str, data: Path, init: Path) -> Path:
        a = self.args
        folder = self.folder(stage)
        iters, batch, lr = ((a.flow_iters, a.flow_batch, a.flow_lr) if stage == "flow"
                            else (a.joint_iters, a.joint_batch, a.joint_lr))
        runtime = ["--workers", a.workers, "--device", a.device, "--no-tensorboard", "--no-plot"]
        parts = ["train-video", "--stage", stage, "--data", data, "--init", init, "--out", folder, "--iters", iters,
                 "--batch", batch, "--lr", lr, "--optimizer", a.optimizer, "--warmup-iters",
                 min(a.warmup_iters, iters // 2), "--seed", a.seed, "--save-every", max(1, iters // 4), *runtime]
        if a.amp == "bf16":
            parts += ["--amp", "bf16", "--channels-last"]
        if stage == "joint" and a.joint_images is not None:
            parts += ["--joint-data", a.joint_images, "--joint-batch", a.joint_images_batch or batch]
        if stage == "joint":
            parts += ["--val-max", 1]  # validation happens below, per scheme; one video keeps the end check cheap
            if a.fresh_blocks is not None:
                parts += ["--fresh-blocks", *a.fresh_blocks, "--fresh-levels", a.fresh_levels]
            if a.fresh_lite is not None:
                parts += ["--fresh-lite", *a.fresh_lite, "--fresh-levels", a.fresh_levels]
                if a.fresh_lite_input is not None:
                    parts += ["--fresh-lite-input", a.fresh_lite_input]
            if a.fresh_warmup is not None:
                parts += ["--fresh-warmup", a.fresh_warmup]

        def resume() -> list[Any] | None:
            saved = [p for p in (folder / "interrupt.pt", folder / "last.pt") if p.is_file()]
            if not saved:
                return None
            latest = max(saved, key=lambda p: p.stat().st_mtime)
            return ["train-video", "--resume", latest, "--iters", iters, *runtime]

        self.run(stage, folder, parts, resume)
        return folder / "last.pt"

    def evaluate(self, video: Path, joint: Path, stage1: Path) -> dict[str, dict]:
        a = self.args
        common = ["--data", video, "--device", a.device]
        if a.eval_videos is not None:
            common += ["--max-videos", a.eval_videos]
        out = {}
        runs = {name: ["--model", joint, "--keyframe-interval", a.keyframe_interval, *flags,
                       *([a.head_thresh] if "--reuse-heads" in flags else [])]
                for name, (_, flags) in SCHEMES.items()}
        runs["stage1_keyframes"] = ["--model", stage1, "--keyframe-interval", 1]
        for name, options in runs.items():
            folder = self.folder(f"eval_{name}")
            self.run("eval", folder, ["val-video", *options, *common, "--json-out", folder / "metrics.json"])
            out[name] = json.loads((folder / "metrics.json").read_text())
        # The slow-motion val sets feed only their own evaluation: adding one later redoes nothing else.
        upstream = self.upstream_ran
        for scale in a.slow_motion:
            data, folder = self.folder(f"data_video_m{scale:g}"), self.folder(f"eval_{slow_name(scale)}")
            self.run("data-video", data, ["synth", "video", data, "--size", a.size, "--videos", 1, "--val-videos",
                                          a.val_videos, "--frames", a.frames, "--annotate-every", a.annotate_every,
                                          "--seed", a.video_seed, "--motion-scale", scale, "--quiet"])
            self.run("eval", folder, ["val-video", "--model", joint, "--keyframe-interval", a.keyframe_interval,
                                      "--data", data, *common[2:], "--json-out", folder / "metrics.json"])
            out[slow_name(scale)] = json.loads((folder / "metrics.json").read_text())
            self.upstream_ran = upstream
        return out

    def fps(self, video: Path, joint: Path) -> dict[str, Any]:
        """Python API, end to end: decode (.avi) + inference + drawing, interleaved passes."""
        a = self.args
        folder = self.folder("fps")
        settings = {"model": str(joint), "videos": a.fps_videos, "rounds": a.fps_rounds, "conf": a.fps_conf,
                    "k": a.keyframe_interval, "head_thresh": a.head_thresh, "threads": a.threads,
                    "device": a.device}
        line = f"# fps (Python API): {json.dumps(settings, sort_keys=True)}"
        self.commands.append(line)
        if self.done("fps", folder, line):
            return json.loads((folder / "fps.json").read_text())
        import torch

        from yolactedge import YolactEdge
        from yolactedge.api.video_io import frames_to_video

        torch.set_num_threads(a.threads or min(2, os.cpu_count() or 1))
        val = json.loads((video / "val" / "annotations.json").read_text())
        clips = []
        for record in val["videos"][: a.fps_videos]:
            name = Path(record["file_names"][0]).parent.name
            frames = sorted((video / "val" / "JPEGImages" / name).glob("*.jpg"))
            clips.append(str(frames_to_video(frames, folder / "videos" / f"{name}.avi", fps=30.0)))
        model = YolactEdge.load(joint, device=a.device)
        k = a.keyframe_interval
        modes = {"k=1": (1, False, None), f"k={k}": (k, False, None), f"k={k} + prototype reuse": (k, True, None),
                 f"k={k} + prototype + head reuse": (k, True, a.head_thresh)}
        counts: dict[str, tuple[int, int]] = {}

        def one_pass(mode: str) -> Callable[[], None]:
            interval, reuse_protos, head_thresh = modes[mode]

            def run() -> None:
                model.model.reuse_prototypes, model.model.reuse_heads = reuse_protos, head_thresh
                frames = keyframes = 0
                for clip in clips:
                    for result in model.predict(clip, stream=True, conf=a.fps_conf, keyframe_interval=interval):
                        result.plot()
                        frames += 1
                        keyframes += bool(result.keyframe)
                counts[mode] = (frames, keyframes)
            return run

        print(f"\n[run] fps: {len(clips)} videos, {len(modes)} modes, {a.fps_rounds} interleaved rounds", flush=True)
        start = time.perf_counter()
        seconds = interleaved({m: one_pass(m) for m in modes}, rounds=a.fps_rounds, warmup=1)
        model.model.reuse_prototypes, model.model.reuse_heads = False, None
        result = {"machine": machine(), "settings": settings, "modes": {}}
        for mode, s in seconds.items():
            frames, keyframes = counts[mode]
            result["modes"][mode] = {"seconds_per_pass": s, "frames": frames, "keyframes": keyframes,
                                     "fps": frames / s}
            print(f"  {mode:<32} {frames / s:7.1f} FPS ({keyframes} keyframes of {frames} frames)")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "fps.json").write_text(json.dumps(result, indent=1))
        self.finish(folder, line, time.perf_counter() - start)
        return result

    def flow_epe(self) -> dict[str, float] | None:
        """Last validation row of stage 2 (EPE in pixels next to the zero-flow baseline)."""
        path = self.folder("flow") / "metrics.csv"
        if not path.is_file():
            return None
        import csv

        rows = list(csv.DictReader(path.open()))
        if not rows:
            return None
        return {"epe": float(rows[-1]["epe"]), "zero_flow_epe": float(rows[-1]["zero_flow_epe"])}


def slow_name(scale: float) -> str:
    return f"original_motion_x{scale:g}"


# ----------------------------------------------------------------------------- report
def ap(metrics: dict, key: str, kind: str) -> float:
    return float(metrics["metrics"][key][kind]["AP"])


def summarize(evals: dict[str, dict], fps: dict[str, Any], k: int) -> dict[str, Any]:
    """mAP per distance per scheme, the mean over warped distances against the all-keyframe mAP
    (distance 0, identical for every scheme: the keyframe path does not depend on it), FPS ratios."""
    out: dict[str, Any] = {"schemes": {}, "slow_motion": {}}
    slow = {name: name.rsplit("_x", 1)[1] for name in evals if name.startswith("original_motion_x")}
    for name in [*SCHEMES, *slow]:
        entry: dict[str, Any] = {}
        for kind, label in (("segm", "mask"), ("bbox", "box")):
            per = [ap(evals[name], str(d), kind) for d in range(k)]
            entry[label] = {"per_distance": per, "mean_warped": statistics.fmean(per[1:]), "all_keyframe": per[0],
                            "pooled": ap(evals[name], "all", kind)}
        if name in slow:
            out["slow_motion"][slow[name]] = entry
        else:
            out["schemes"][name] = entry
    keyframe_maps = {n: out["schemes"][n]["mask"]["all_keyframe"] for n in SCHEMES}
    if len(set(keyframe_maps.values())) != 1:
        raise SystemExit(f"error: distance-0 mAP differs between schemes {keyframe_maps}: the keyframe path changed")
    out["stage1_all_keyframe"] = {label: ap(evals["stage1_keyframes"], "0", kind)
                                  for kind, label in (("segm", "mask"), ("bbox", "box"))}
    modes = fps["modes"]
    base = modes["k=1"]["fps"]
    out["fps"] = {m: v["fps"] for m, v in modes.items()}
    out["fps_ratio_vs_k1"] = {m: v["fps"] / base for m, v in modes.items()}
    return out


def markdown(summary: dict[str, Any], args: argparse.Namespace, fps: dict[str, Any], epe: dict | None) -> str:
    k = args.keyframe_interval
    dists = " | ".join(str(d) for d in range(1, k))
    lines = [f"Machine: {fps['machine']}. `python benchmarks/video_recipe.py` (settings in results.json): "
             f"{args.val_videos} val videos x {args.frames} frames ({args.size}x{args.size}, every "
             f"{args.annotate_every}th annotated), stage 2 {args.flow_iters} x {args.flow_batch} pairs, stage 3 "
             f"{args.joint_iters} x {args.joint_batch} videos.", ""]
    for label, title in (("mask", "mask AP"), ("box", "box AP")):
        lines += [f"| {title} by keyframe distance | 0 (all keyframes) | {dists} | mean 1-{k - 1} | mean 1-{k - 1} "
                  f"minus all-keyframe | pooled 0-{k - 1} |",
                  "|---" * (k + 4) + "|"]
        rows = [(text + (f" (threshold {args.head_thresh:g})" if name == "proto_heads" else ""),
                 summary["schemes"][name][label]) for name, (text, _) in SCHEMES.items()]
        rows += [(f"original scheme, the val videos at motion x{scale}", entry[label])
                 for scale, entry in summary["slow_motion"].items()]
        for text, e in rows:
            per = " | ".join(f"{v:.1f}" for v in e["per_distance"][1:])
            lines.append(f"| {text} | {e['all_keyframe']:.1f} | {per} | {e['mean_warped']:.1f} | "
                         f"{e['mean_warped'] - e['all_keyframe']:+.1f} | {e['pooled']:.1f} |")
        lines.append("")
    s1 = summary["stage1_all_keyframe"]
    lines.append(f"Stage-1 image model, every frame a keyframe: mask AP {s1['mask']:.1f}, box AP {s1['box']:.1f}.")
    if epe is not None:
        lines.append(f"Stage 2 flow EPE on the val pairs: {epe['epe']:.2f} px (zero flow "
                     f"{epe['zero_flow_epe']:.2f} px).")
    lines += ["", "| end-to-end video FPS (decode + inference + drawing, Python API) | FPS | vs keyframe interval 1 |",
              "|---|---|---|"]
    for mode, value in summary["fps"].items():
        lines.append(f"| {mode} | {value:.1f} | {summary['fps_ratio_vs_k1'][mode]:.2f} |")
    lines.append(f"\n{fps['settings']['videos']} val videos, median of {fps['settings']['rounds']} interleaved "
                 "rounds after one warm-up pass.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    recipe = Recipe(args)
    from yolactedge.assets import default_model_path

    stage1 = Path(args.stage1) if args.stage1 else default_model_path()
    if stage1 is None or not stage1.is_file():
        raise SystemExit(f"error: stage-1 checkpoint {stage1} not found: pass --stage1")
    start = time.perf_counter()
    video, flow_data = recipe.data()
    recipe.check_classes(stage1, video)
    flow = recipe.train("flow", flow_data, stage1)
    joint = recipe.train("joint", video, flow)
    evals = recipe.evaluate(video, joint, stage1)
    fps = recipe.fps(video, joint)
    (recipe.out / "commands.sh").write_text("\n".join(["#!/bin/sh", "set -e", *recipe.commands]) + "\n")
    summary = summarize(evals, fps, args.keyframe_interval)
    epe = recipe.flow_epe()
    table = markdown(summary, args, fps, epe)
    results = {"settings": vars(args), "stage1": str(stage1), "machine": fps["machine"], "commands": recipe.commands,
               "flow_epe": epe, **summary}
    (recipe.out / "results.json").write_text(json.dumps(results, indent=1))
    (recipe.out / "report.md").write_text(table + "\n")
    print("\n" + table)
    print(f"\nwrote {recipe.out / 'report.md'}, {recipe.out / 'results.json'}, {recipe.out / 'commands.sh'} "
          f"({time.perf_counter() - start:.0f} s this run)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
