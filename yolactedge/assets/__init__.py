"""Files shipped inside the package (the bundled demo model)."""
from __future__ import annotations

from pathlib import Path

ASSETS = Path(__file__).resolve().parent
DEMO_MODEL = ASSETS / "demo_model.pt"


def default_model_path() -> Path | None:
    """The bundled demo checkpoint (trained on the synthetic shapes benchmark), if present."""
    return DEMO_MODEL if DEMO_MODEL.is_file() else None
