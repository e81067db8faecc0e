"""DDP on CPU (gloo): two processes end with identical weights; rank 0 alone writes files."""
from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def state_hash(model: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for name, value in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _rank_main(rank: int, world: int, port: int, root: str, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
                      WORLD_SIZE=str(world))
    torch.set_num_threads(1)
    from trainloop_helpers import tiny_arch, tiny_config

    from yolactedge.data.coco import CocoDataset
    from yolactedge.train import ddp
    from yolactedge.train.trainer import Trainer

    train = CocoDataset(Path(root) / "train" / "images", Path(root) / "train" / "annotations.json")
    cfg = tiny_config(Path(out) / "run", max_iter=4, batch_size=2, save_every=2)
    try:
        trainer = Trainer(cfg, train, None, tiny_arch(train.class_names), device="cpu", show_progress=False)
        trainer.train()
        (Path(out) / f"hash_{rank}.txt").write_text(state_hash(trainer.model))
        (Path(out) / f"iters_{rank}.txt").write_text(str(trainer.iteration))
    finally:
        ddp.cleanup()


@pytest.mark.slow
def test_two_gloo_ranks_end_with_identical_weights(tmp_path, synth_root) -> None:
    mp.spawn(_rank_main, args=(2, _free_port(), str(synth_root), str(tmp_path)), nprocs=2, join=True)
    hashes = [(tmp_path / f"hash_{r}.txt").read_text() for r in range(2)]
    assert hashes[0] == hashes[1]
    assert [(tmp_path / f"iters_{r}.txt").read_text() for r in range(2)] == ["4", "4"]
    written = sorted(p.name for p in (tmp_path / "run").iterdir())
    assert written == ["last.pt", "losses.csv", "metrics.csv"]  # rank 0 only, one copy each
    rows = (tmp_path / "run" / "losses.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 4


@pytest.mark.slow
def test_torchrun_cli(tmp_path, synth_root) -> None:
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "yolactedge.cli.main", "train", "--data", str(synth_root), "--backbone", "mobilenetv2",
           "--fpn-features", "32", "--proto-channels", "32", "--imgsz", "96", "--iters", "3", "--batch", "2",
           "--workers", "0", "--out", str(out), "--no-tensorboard", "--no-plot", "--warmup-iters", "1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (out / "last.pt").is_file() and (out / "best.pt").is_file()
    assert "global batch 4" in proc.stderr
