"""YouTube-VIS result export of tracked predictions (API and ``predict --ytvis-json``), read back by
the project's YouTube-VIS evaluation."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from yolactedge import YolactEdge
from yolactedge.api.results import Results
from yolactedge.api.video_io import frames_to_video
from yolactedge.api.ytvis_export import (YTVISExporter, YTVISVideo, annotation_targets, write_ytvis_json,
                                         ytvis_results)
from yolactedge.assets import default_model_path
from yolactedge.cli.main import main
from yolactedge.data.synth import CATEGORY_IDS, generate_video_dataset
from yolactedge.eval.coco_json import decode_rles
from yolactedge.eval.ytvis_eval import evaluate_ytvis_results, load_ytvis_results

NUM_FRAMES = 11  # annotated frames 0, 5, 10


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Two generated val videos (YouTube-VIS layout) and each encoded as ``<video name>.avi``."""
    root = tmp_path_factory.mktemp("ytvis_export")
    paths = generate_video_dataset(root / "data", num_videos=0, num_val_videos=2, num_frames=NUM_FRAMES,
                                   annotate_every=5, image_size=(96, 128), seed=5, progress=False)
    videos = []
    for folder in sorted(Path(paths["val_frames"]).iterdir()):
        videos.append(frames_to_video(sorted(folder.glob("*.jpg")), root / "videos" / f"{folder.name}.avi", fps=10))
    return {"ann": Path(paths["val_annotations"]), "videos": videos, "root": root}


@pytest.fixture(scope="module")
def model() -> YolactEdge:
    path = default_model_path()
    if path is None:
        pytest.skip("no bundled demo model in this installation")
    return YolactEdge.load(path, device="cpu")


@pytest.fixture(scope="module")
def tracked(model: YolactEdge, clips: dict) -> list[Results]:
    return model.predict([str(v) for v in clips["videos"]], conf=0.2, track=True)


def fake_frame(index: int, objects: list[tuple[int, int, float, int]], source: str = "clip.mp4") -> Results:
    """A tracked video frame with square masks: objects are (track id, class, score, x0)."""
    masks = np.zeros((len(objects), 30, 40), bool)
    for k, (_, _, _, x0) in enumerate(objects):
        masks[k, 5:15, x0:x0 + 10] = True
    return Results(orig_img=np.zeros((30, 40, 3), np.uint8), path=f"clip_{index:06d}", names={0: "a", 1: "b"},
                   boxes=np.zeros((len(objects), 4), np.float32),
                   scores=np.array([o[2] for o in objects], np.float32),
                   class_ids=np.array([o[1] for o in objects], np.int64), masks=masks,
                   ids=np.array([o[0] for o in objects], np.int64), source=source, is_video=True)


def test_tracks_become_entries_with_none_where_absent() -> None:
    frames = [fake_frame(0, [(1, 0, 0.9, 2), (2, 1, 0.5, 20)]),
              fake_frame(1, [(1, 1, 0.3, 3)]),  # track 1 seen once as class 1, track 2 absent
              fake_frame(2, [(1, 0, 0.6, 4), (2, 1, 0.7, 21)]),
              fake_frame(0, [(1, 1, 0.4, 2)], source="other.mp4")]
    entries = ytvis_results(frames)
    assert [(e["video_id"], e["category_id"]) for e in entries] == [(1, 1), (1, 2), (2, 2)]
    first, second, other = entries
    assert first["score"] == pytest.approx((0.9 + 0.3 + 0.6) / 3)  # class: 0.9 + 0.6 (a) beats 0.3 (b)
    assert second["segmentations"][1] is None and second["score"] == pytest.approx(0.6)
    assert all(len(e["segmentations"]) == 3 for e in entries[:2]) and len(other["segmentations"]) == 1
    np.testing.assert_array_equal(decode_rles(first["segmentations"]), np.stack([f.masks[0] for f in frames[:3]]))
    json.loads(json.dumps(entries))  # plain JSON types only
    # explicit ids: category map and a video's frame list (frames not listed are passed over)
    chosen = ytvis_results(frames[:3], category_ids=[7, 9], videos={"clip": YTVISVideo(42, frames=(0, 2, 5))})
    assert [(e["video_id"], e["category_id"]) for e in chosen] == [(42, 7), (42, 9)]
    assert chosen[0]["score"] == pytest.approx((0.9 + 0.6) / 2)  # frame 1 is not listed: passed over
    assert chosen[1]["segmentations"][1] is not None and chosen[1]["segmentations"][2] is None  # frame 5 unseen


def test_export_refuses_untracked_and_still_frames() -> None:
    frame = fake_frame(0, [(1, 0, 0.9, 2)])
    with pytest.raises(ValueError, match="track=True"):
        YTVISExporter().add(dataclasses.replace(frame, ids=None))
    with pytest.raises(ValueError, match="still image"):
        YTVISExporter().add(dataclasses.replace(frame, is_video=False))
    with pytest.raises(ValueError, match="not in the annotation file"):
        YTVISExporter(videos={"video_0000": YTVISVideo(1)}, strict=True).add(frame)


def test_demo_model_tracks_span_frames(tracked: list[Results], clips: dict, tmp_path: Path) -> None:
    assert len(tracked) == 2 * NUM_FRAMES and all(r.ids is not None for r in tracked)
    path = write_ytvis_json(tracked, tmp_path / "out" / "results.json")
    entries = load_ytvis_results(path)
    assert entries and {e["video_id"] for e in entries} == {1, 2}
    assert all(len(e["segmentations"]) == NUM_FRAMES for e in entries)
    assert all(e["category_id"] in range(1, 9) and 0 < e["score"] <= 1 for e in entries)
    spans = [sum(s is not None for s in e["segmentations"]) for e in entries]
    assert max(spans) >= 3  # the moving shapes are followed across frames
    # every detection of every frame is in exactly one track
    per_frame = [sum(e["segmentations"][f] is not None for e in entries if e["video_id"] == v)
                 for v in (1, 2) for f in range(NUM_FRAMES)]
    assert per_frame == [len(r) for r in tracked]
    for entry in entries:
        for seg in entry["segmentations"]:
            assert seg is None or (seg["size"] == [96, 128] and isinstance(seg["counts"], str))


def test_export_against_annotations_is_scored(tracked: list[Results], clips: dict, tmp_path: Path) -> None:
    ann = json.loads(clips["ann"].read_text())
    category_ids, videos = annotation_targets(ann, [tracked[0].names[i] for i in sorted(tracked[0].names)])
    assert category_ids == list(CATEGORY_IDS)  # the synthetic ids are non-contiguous: matched by name
    assert {name: v.frames for name, v in videos.items()} == {"video_0000": (0, 5, 10), "video_0001": (0, 5, 10)}
    path = write_ytvis_json(tracked, tmp_path / "scored.json", ann=clips["ann"])
    entries = load_ytvis_results(path)
    assert all(len(e["segmentations"]) == 3 and e["category_id"] in CATEGORY_IDS for e in entries)
    metrics = evaluate_ytvis_results(clips["ann"], path)
    assert 0.0 <= metrics["segm"]["AP"] <= 100.0 and 0.0 <= metrics["bbox"]["AP"] <= 100.0
    # the evaluation itself: the ground truth written as results scores 100
    perfect = [{"video_id": a["video_id"], "category_id": a["category_id"], "score": 1.0,
                "segmentations": a["segmentations"]} for a in ann["annotations"]]
    assert evaluate_ytvis_results(ann, perfect)["segm"]["AP"] == pytest.approx(100.0)
    with pytest.raises(ValueError, match="per-frame entries"):
        evaluate_ytvis_results(ann, [{**perfect[0], "segmentations": perfect[0]["segmentations"][:1]}])


def test_cli_predict_ytvis_json(model: YolactEdge, clips: dict, tmp_path: Path, capsys) -> None:
    listing = tmp_path / "videos.txt"
    listing.write_text("\n".join(str(v) for v in clips["videos"]))
    out = tmp_path / "ytvis.json"
    code = main(["predict", "--source", str(listing), "--out", str(tmp_path / "pred"), "--no-save", "--conf", "0.2",
                 "--ytvis-json", str(out), "--ytvis-ann", str(clips["ann"])])
    assert code == 0
    assert "YouTube-VIS results:" in capsys.readouterr().out
    entries = load_ytvis_results(out)
    assert entries and {e["video_id"] for e in entries} <= {1, 2}
    assert all(len(e["segmentations"]) == 3 for e in entries)
    assert set(evaluate_ytvis_results(clips["ann"], out)) == {"bbox", "segm"}


def test_cli_ytvis_json_errors(clips: dict, tmp_path: Path, capsys) -> None:
    image = next((Path(clips["ann"]).parent / "JPEGImages" / "video_0000").glob("*.jpg"))
    code = main(["predict", "--source", str(image), "--out", str(tmp_path), "--ytvis-json", str(tmp_path / "x.json")])
    assert code == 2 and "needs a video source" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()
    with pytest.raises(SystemExit, match="drop --no-masks"):
        main(["predict", "--source", str(clips["videos"][0]), "--no-masks", "--ytvis-json", str(tmp_path / "x.json")])
    with pytest.raises(SystemExit, match="box from its mask: drop --no-masks"):
        main(["predict", "--source", str(clips["videos"][0]), "--no-masks", "--box-from-mask"])
    with pytest.raises(SystemExit, match="only applies with --ytvis-json"):
        main(["predict", "--source", str(clips["videos"][0]), "--ytvis-ann", str(clips["ann"])])
    code = main(["predict", "--source", str(clips["videos"][0]), "--out", str(tmp_path), "--no-save",
                 "--ytvis-json", str(tmp_path / "x.json"), "--ytvis-ann", str(tmp_path / "missing.json")])
    assert code == 2 and "--ytvis-ann" in capsys.readouterr().err
