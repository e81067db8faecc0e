import os
from pathlib import Path

import pytest
import torch

# Two cores on CI: more threads than cores slows PyTorch down.
torch.set_num_threads(min(2, os.cpu_count() or 1))

REPO = Path(__file__).resolve().parents[1]


def parity_dir(config: str = "yolact_edge_mobilenetv2_config") -> Path | None:
    env = os.environ.get("YOLACTEDGE_REFERENCE_DIR")
    root = Path(env) if env else REPO.parent / "shared" / "reference"
    path = root / "parity" / config
    return path if path.is_dir() else None


@pytest.fixture(scope="session")
def mobilenet_parity_dir() -> Path:
    path = parity_dir()
    if path is None:
        pytest.skip("../shared/reference/parity is absent (set YOLACTEDGE_REFERENCE_DIR to run the parity test)")
    return path
