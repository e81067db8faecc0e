"""benchmarks/video_recipe.py end to end at toy size: every step runs through the real CLI, the
report and JSON come out, a second run skips every finished step, a changed step is refused."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "video_recipe.py"
TINY = ["--size", "96", "--videos", "2", "--val-videos", "1", "--frames", "6", "--flow-pairs", "6",
        "--flow-val-fraction", "0.34", "--flow-iters", "2", "--flow-batch", "2", "--joint-batch", "2",
        "--warmup-iters", "0", "--workers", "0", "--fps-videos", "1", "--fps-rounds", "1", "--device", "cpu",
        "--threads", "1"]


def run_script(out: Path, stage1: Path, *extra: str) -> subprocess.CompletedProcess:
    argv = [sys.executable, str(SCRIPT), "--out", str(out), "--stage1", str(stage1), *TINY, *extra]
    return subprocess.run(argv, capture_output=True, text=True, timeout=1800,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})


@pytest.mark.slow
def test_video_recipe_runs_and_resumes(tmp_path: Path, stage1_checkpoint: Path) -> None:
    out = tmp_path / "recipe"
    first = run_script(out, stage1_checkpoint, "--joint-iters", "2", "--fresh-warmup", "2")
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]

    results = json.loads((out / "results.json").read_text())
    assert set(results["schemes"]) == {"original", "proto", "proto_heads"}
    for scheme in results["schemes"].values():
        for label in ("mask", "box"):
            entry = scheme[label]
            assert len(entry["per_distance"]) == 5  # keyframe distances 0..4
            assert entry["mean_warped"] == pytest.approx(sum(entry["per_distance"][1:]) / 4)
            assert all(0.0 <= v <= 100.0 for v in entry["per_distance"])
    assert set(results["slow_motion"]) == {"0.25"}
    slow = results["slow_motion"]["0.25"]["mask"]
    assert len(slow["per_distance"]) == 5 and slow["mean_warped"] == pytest.approx(sum(slow["per_distance"][1:]) / 4)
    assert set(results["stage1_all_keyframe"]) == {"mask", "box"}
    assert set(results["fps"]) == {"k=1", "k=5", "k=5 + prototype reuse", "k=5 + prototype + head reuse"}
    assert results["fps_ratio_vs_k1"]["k=1"] == pytest.approx(1.0) and all(v > 0 for v in results["fps"].values())
    fps = json.loads((out / "fps" / "fps.json").read_text())["modes"]
    assert fps["k=1"]["keyframes"] == fps["k=1"]["frames"] == 6 and fps["k=5"]["keyframes"] == 2
    assert results["flow_epe"]["epe"] > 0

    report = (out / "report.md").read_text()
    assert report.count("| mask AP by keyframe distance | 0 (all keyframes) | 1 | 2 | 3 | 4 |") == 1
    assert report.count("| original scheme, the val videos at motion x0.25 |") == 2  # mask and box tables
    assert "| k=5 |" in report and "vs keyframe interval 1" in report
    commands = (out / "commands.sh").read_text()
    for expected in ("yolactedge synth video", "yolactedge synth flow", "train-video --stage flow",
                     "train-video --stage joint", "--fresh-lite 128 256 --fresh-levels P4P5 --fresh-warmup 2",
                     "--reuse-prototypes --reuse-heads 0.05", "--keyframe-interval 1"):
        assert expected in commands
    assert commands.count("yolactedge val-video") == 5 and "--motion-scale 0.25" in commands

    second = run_script(out, stage1_checkpoint, "--joint-iters", "2", "--fresh-warmup", "2")
    assert second.returncode == 0, second.stdout[-4000:]
    assert "[run]" not in second.stdout and second.stdout.count("[skip]") == 11
    assert json.loads((out / "results.json").read_text())["schemes"] == results["schemes"]

    changed = run_script(out, stage1_checkpoint, "--joint-iters", "3", "--fresh-warmup", "2")
    assert changed.returncode != 0 and "pass --force joint" in changed.stderr


def test_stage3_options_reach_the_cli_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--joint-images becomes train-video's --joint-data, --fresh-blocks reaches stage 3 only; --amp auto
    never picks emulated bfloat16."""
    from benchmark_scripts import load_benchmark

    from yolactedge.train.precision import cpu_has_bf16

    module = load_benchmark("video_recipe")
    args = module.parse_args(["--out", str(tmp_path), "--device", "cpu", "--joint-images", "coco_root",
                              "--joint-images-batch", "4", "--fresh-blocks", "2", "1"])
    assert args.amp == ("bf16" if cpu_has_bf16() else "off")
    recipe = module.Recipe(args)
    seen: dict[str, list] = {}
    monkeypatch.setattr(recipe, "run", lambda step, folder, parts, resume=None: seen.setdefault(step, parts))
    recipe.train("joint", tmp_path / "videos", tmp_path / "flow.pt")
    recipe.train("flow", tmp_path / "chairs", tmp_path / "stage1.pt")
    joint, flow = ([str(p) for p in seen[s]] for s in ("joint", "flow"))
    assert joint[joint.index("--joint-data") + 1] == "coco_root" and joint[joint.index("--joint-batch") + 1] == "4"
    assert "--joint-data" not in flow and "--fresh-blocks" not in flow
    at = joint.index("--fresh-blocks")
    assert joint[at + 1:at + 5] == ["2", "1", "--fresh-levels", "P4P5"] and "--fresh-lite" not in joint
    assert ("--amp" in joint) == (args.amp == "bf16")


def test_fresh_lite_is_stage_3_default_and_original_scheme_turns_it_off(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from benchmark_scripts import load_benchmark

    module = load_benchmark("video_recipe")

    def joint_command(*argv: str) -> list[str]:
        recipe = module.Recipe(module.parse_args(["--out", str(tmp_path), "--device", "cpu", *argv]))
        seen: dict[str, list] = {}
        monkeypatch.setattr(recipe, "run", lambda step, folder, parts, resume=None: seen.setdefault(step, parts))
        recipe.train("joint", tmp_path / "videos", tmp_path / "flow.pt")
        return [str(p) for p in seen["joint"]]

    joint = joint_command()
    at = joint.index("--fresh-lite")
    assert joint[at + 1:at + 5] == ["128", "256", "--fresh-levels", "P4P5"] and "--fresh-lite-input" not in joint
    joint = joint_command("--fresh-lite", "64", "128", "--fresh-levels", "P5", "--fresh-lite-input", "c3",
                          "--fresh-warmup", "10")
    at = joint.index("--fresh-lite")
    assert joint[at + 1:at + 5] == ["64", "128", "--fresh-levels", "P5"] and "--fresh-blocks" not in joint
    assert joint[joint.index("--fresh-lite-input") + 1] == "c3" and joint[joint.index("--fresh-warmup") + 1] == "10"
    joint = joint_command("--original-scheme")
    assert not any(p.startswith("--fresh") for p in joint)
    for bad in (["--fresh-lite", "8", "8", "--fresh-blocks", "1", "1"], ["--original-scheme", "--fresh-lite", "8", "8"],
                ["--original-scheme", "--fresh-warmup", "5"], ["--fresh-blocks", "1", "1", "--fresh-lite-input", "c3"]):
        with pytest.raises(SystemExit):
            module.parse_args(["--out", str(tmp_path), *bad])
