"""Metadata that travels with exported files, so a folder (or even one ONNX file) rebuilds the
predictor with no checkpoint, no config guessing and no preprocessing assumptions.

Two places: ``metadata_props`` inside every ONNX file (``yolactedge.*`` keys, JSON values) and
``manifest.json`` in the export folder (what ``load_engine`` reads).
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Mapping

import torch

from yolactedge.config.schema import ModelConfig

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "yolactedge-export"
MANIFEST_VERSION = 1
META_PREFIX = "yolactedge."


class ManifestError(ValueError):
    """An export folder is missing its manifest or was written by an incompatible version."""


def model_hash(model: torch.nn.Module, config: ModelConfig) -> str:
    """sha256 of the weights (names, dtypes, shapes, bytes) and the config: keys caches and engines."""
    digest = hashlib.sha256(json.dumps(config.to_dict(), sort_keys=True).encode())
    for name, tensor in model.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        digest.update(t.view(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def versions() -> dict[str, str]:
    """Library versions that produced an artifact (absent libraries are left out)."""
    import yolactedge

    out = {"yolactedge": yolactedge.__version__, "torch": torch.__version__}
    for module in ("onnx", "onnxruntime", "openvino", "nncf", "tensorrt"):
        try:
            out[module] = __import__(module).__version__
        except Exception:  # noqa: BLE001 - optional libraries; any import failure means "absent"
            continue
    return out


def component_metadata(
    config: ModelConfig, component: str, precision: str, *, model_digest: str,
    calibration: Mapping[str, Any] | None, batch: int,
) -> dict[str, str]:
    """The ``metadata_props`` of one component file (every value a string, JSON where structured)."""
    values: dict[str, Any] = {
        "format": MANIFEST_FORMAT,
        "component": component,
        "precision": precision,
        "config": config.to_dict(),
        "class_names": list(config.class_names),
        "preprocess": config.to_dict()["preprocess"],
        "input_size": list(config.input_size),
        "batch": batch,
        "model_hash": model_digest,
        "calibration": dict(calibration) if calibration else None,
        "versions": versions(),
    }
    return {META_PREFIX + k: v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}


def embed_metadata(model_proto: Any, metadata: Mapping[str, str]) -> None:
    """Set (replace) ``metadata_props`` entries of an ``onnx.ModelProto`` in place."""
    existing = {p.key: p for p in model_proto.metadata_props}
    for key, value in metadata.items():
        if key in existing:
            existing[key].value = value
        else:
            entry = model_proto.metadata_props.add()
            entry.key, entry.value = key, value


def read_onnx_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The ``yolactedge.*`` metadata of an ONNX file, JSON values decoded (weights not loaded)."""
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    out: dict[str, Any] = {}
    for prop in proto.metadata_props:
        if prop.key.startswith(META_PREFIX):
            key = prop.key[len(META_PREFIX):]
            try:
                out[key] = json.loads(prop.value)
            except json.JSONDecodeError:
                out[key] = prop.value
    return out


def config_from_metadata(meta: Mapping[str, Any]) -> ModelConfig:
    return ModelConfig.from_dict(meta["config"])


def write_manifest(folder: str | os.PathLike, manifest: Mapping[str, Any]) -> Path:
    path = Path(folder) / MANIFEST_NAME
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"format": MANIFEST_FORMAT, "version": MANIFEST_VERSION, **manifest}, indent=2))
    os.replace(tmp, path)
    return path


def read_manifest(folder: str | os.PathLike) -> dict[str, Any]:
    path = Path(folder) / MANIFEST_NAME
    if not path.is_file():
        raise ManifestError(
            f"{folder}: no {MANIFEST_NAME}; not a folder written by 'yolactedge export' "
            "(export one with: yolactedge export --model CKPT --out DIR)"
        )
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{path}: not valid JSON ({exc})") from exc
    if data.get("format") != MANIFEST_FORMAT:
        raise ManifestError(f"{path}: not a yolactedge export manifest (format={data.get('format')!r})")
    if int(data.get("version", 0)) > MANIFEST_VERSION:
        raise ManifestError(f"{path}: written by a newer yolactedge (manifest v{data['version']}); upgrade the package")
    return data
