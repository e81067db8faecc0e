"""The package's layers: a subpackage imports only from layers below it (also inside functions),
so e.g. training never pulls in the API and the model never sees a dataset."""
from __future__ import annotations

import ast
from pathlib import Path

import yolactedge

# rank: a subpackage may import subpackages of a strictly lower rank (and itself).
LAYERS = {
    "runtime": 0, "config": 0, "assets": 0,
    "ops": 1, "model": 1, "data": 1, "checkpoints": 1,
    "eval": 2, "train": 3, "deploy": 4, "api": 5, "bench": 6, "cli": 7, "__main__": 8,
}
ROOT = Path(yolactedge.__file__).parent


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {n.split(".")[1] for n in names if n.startswith("yolactedge.") and n.count(".") >= 1}


def test_every_subpackage_has_a_layer():
    found = {p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    found |= {p.stem for p in ROOT.glob("*.py") if p.stem != "__init__"}
    assert found <= set(LAYERS), f"give these a rank in LAYERS: {sorted(found - set(LAYERS))}"


def test_dependencies_point_downwards():
    upward = []
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT).parts
        layer = parts[0] if len(parts) > 1 else path.stem
        if layer == "__init__":
            continue
        for target in _imports(path) - {layer}:
            if LAYERS[target] >= LAYERS[layer]:
                upward.append(f"{path.relative_to(ROOT)} imports yolactedge.{target}")
    assert not upward, "imports against the layering:\n" + "\n".join(sorted(upward))
