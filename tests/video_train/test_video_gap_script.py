"""benchmarks/video_gap.py: mean over distances 1..k-1 minus distance 0."""
import pytest

from benchmark_scripts import load_benchmark


def test_gap_is_the_mean_of_the_warped_distances_minus_all_keyframe():
    script = load_benchmark("video_gap")
    metrics = {str(d): {"segm": {"AP": 60.0 - d}, "bbox": {"AP": 50.0 - 2 * d}} for d in range(5)}
    metrics["all"] = {"segm": {"AP": 0.0}, "bbox": {"AP": 0.0}}
    out = script.gaps(metrics)
    assert out["segm"]["gap"] == pytest.approx(-2.5) and out["bbox"]["gap"] == pytest.approx(-5.0)
    assert out["segm"]["per_distance"] == [60.0, 59.0, 58.0, 57.0, 56.0]
    with pytest.raises(ValueError, match="distance 0"):
        script.gaps({"0": metrics["0"]})
