"""benchmarks/video_motion.py on tiny inputs: it reads real video files and synthetic sets alike and
its motion numbers follow ``--motion-scale``."""
import cv2
import numpy as np
import pytest

from yolactedge.data.synth import generate_video_dataset
from benchmark_scripts import load_benchmark


def load_script():
    return load_benchmark("video_motion")


def rows(text: str) -> dict[tuple[str, int], list[float]]:
    out = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 5 and cells[1].isdigit():
            out[(cells[0], int(cells[1]))] = [float(c) for c in cells[2:]]
    return out


def test_motion_table_for_real_and_synthetic_video(tmp_path, capsys):
    script = load_script()
    video = tmp_path / "shift.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (96, 64))
    rng = np.random.default_rng(0)
    base = cv2.GaussianBlur(rng.integers(0, 255, (64, 200, 3), dtype=np.uint8), (5, 5), 0)
    for t in range(8):  # a textured pattern sliding 2 px per frame
        writer.write(np.ascontiguousarray(base[:, 2 * t:2 * t + 96]))
    writer.release()
    for scale in (1.0, 0.25):
        generate_video_dataset(tmp_path / f"m{scale}", num_videos=0, num_val_videos=2, num_frames=9,
                               image_size=(64, 64), seed=0, progress=False, motion_scale=scale)
    assert script.main(["--real", str(video), "--synth", str(tmp_path / "m1.0"), str(tmp_path / "m0.25"),
                        "--size", "64", "--distances", "1", "4", "--stride", "1"]) == 0
    table = rows(capsys.readouterr().out)
    assert set(table) == {(f"{n}", d) for n in ("shift.avi (real)", "m1.0 (synthetic)", "m0.25 (synthetic)")
                          for d in (1, 4)}
    assert 1.5 < table[("shift.avi (real)", 1)][0] < 4.5  # 2 px of 64 = 3.1 %
    assert table[("shift.avi (real)", 4)][0] > 1.5 * table[("shift.avi (real)", 1)][0]  # Farneback is short on 8 px
    assert table[("m0.25 (synthetic)", 4)][2] < table[("m1.0 (synthetic)", 4)][2]


def test_unreadable_video_is_a_clear_error(tmp_path):
    with pytest.raises(SystemExit, match="could not read"):
        load_script().main(["--real", str(tmp_path / "missing.avi")])
    with pytest.raises(SystemExit, match="no video folders"):
        load_script().main(["--real", "--synth", str(tmp_path)])
