"""Native TensorRT through its Python API (imported lazily: everything else works without it).

Engines are built from the same component ONNX files (FP32 files + builder FP16 flag; INT8 from
the QDQ files = explicit quantization, so no TensorRT calibrator is involved). One small
compatibility layer covers the 8.6 and 10.x APIs (explicit batch flag, parser errors); both use
the named-tensor execution API (``set_tensor_address`` + ``execute_async_v3``). Engines are cached
by (ONNX sha256, precision, TensorRT version, GPU name and compute capability) with a JSON sidecar,
so a mismatch rebuilds with a message instead of failing to deserialize.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any, Callable, Mapping

import torch

from yolactedge.deploy.components import ComponentSpec
from yolactedge.deploy.metadata import file_sha256

log = logging.getLogger(__name__)

MIN_VERSION = (8, 6)
TESTED = "8.6, 10.x"


class TensorRTUnavailable(ImportError):
    """TensorRT (or a CUDA GPU for it) is missing or too old."""


class TensorRTBuildError(RuntimeError):
    """TensorRT could not parse or build a component."""


def import_tensorrt():
    """``tensorrt`` with a version check and errors that say what to do."""
    try:
        import tensorrt as trt
    except ImportError as exc:
        raise TensorRTUnavailable(
            "TensorRT not found (pip install tensorrt on x86 with CUDA 12, or JetPack on Jetson). "
            "Without it use --format onnx (ONNX Runtime, CUDA EP on GPUs) or --format openvino (CPU)."
        ) from exc
    version = trt_version(trt)
    if version < MIN_VERSION:
        raise TensorRTUnavailable(
            f"TensorRT {trt.__version__} detected; supported >= {MIN_VERSION[0]}.{MIN_VERSION[1]} (tested {TESTED})"
        )
    return trt


def trt_version(trt: Any) -> tuple[int, int]:
    parts = str(trt.__version__).split(".")
    return int(parts[0]), int(parts[1]) if len(parts) > 1 else 0


def require_cuda(device: torch.device) -> None:
    if device.type != "cuda" or not torch.cuda.is_available():
        raise TensorRTUnavailable(
            f"TensorRT needs a CUDA device (got {device}, torch.cuda.is_available()={torch.cuda.is_available()})"
        )


def gpu_identity(device: torch.device) -> dict[str, str]:
    props = torch.cuda.get_device_properties(device)
    return {"gpu": props.name, "compute_capability": f"{props.major}.{props.minor}"}


def warn_without_tensor_cores(device: torch.device, precision: str) -> None:
    major, minor = torch.cuda.get_device_capability(device)
    if precision in ("fp16", "int8") and major < 7:
        log.warning("GPU %s (sm_%d%d) has no tensor cores; %s TensorRT may not be faster than FP32",
                    torch.cuda.get_device_name(device), major, minor, precision.upper())


# -- building -----------------------------------------------------------------------------------------
def _network_flags(trt: Any) -> int:
    """TensorRT 8.6 needs the EXPLICIT_BATCH flag; in 10.x every network is explicit-batch (flag deprecated)."""
    if trt_version(trt)[0] >= 10:
        return 0
    return 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)


def _parser_errors(parser: Any, onnx_path: Path) -> str:
    """Parser errors with the failing op type and node name (looked up in the ONNX file)."""
    try:
        import onnx

        nodes = onnx.load(str(onnx_path), load_external_data=False).graph.node
    except Exception:  # noqa: BLE001 - names are a nicety; the error text is still reported
        nodes = []
    lines = []
    for i in range(parser.num_errors):
        err = parser.get_error(i)
        index = err.node() if callable(getattr(err, "node", None)) else -1
        where = ""
        if 0 <= index < len(nodes):
            where = f" at node {nodes[index].name or index} ({nodes[index].op_type})"
        lines.append(f"{err.desc()}{where}")
    return "; ".join(lines) or "unknown parser error"


def build_engine(onnx_path: str | os.PathLike, precision: str, *, workspace_bytes: int = 2 << 30) -> bytes:
    """Serialized engine for one component. INT8 expects a QDQ file (explicit quantization)."""
    trt = import_tensorrt()
    onnx_path = Path(onnx_path)
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(_network_flags(trt))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_path.read_bytes()):
        raise TensorRTBuildError(f"{onnx_path.name}: TensorRT cannot parse it: {_parser_errors(parser, onnx_path)}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_bytes)
    if precision == "fp32" and hasattr(trt.BuilderFlag, "TF32"):
        config.clear_flag(trt.BuilderFlag.TF32)  # on by default on Ampere+; FP32 must match PyTorch to 1e-4
    if precision == "fp16":
        config.set_flag(trt.BuilderFlag.FP16)
    elif precision == "int8":
        # Explicit quantization: scales come from the QDQ nodes; layers left unquantized run FP32,
        # as YolactEdge's INT8 engines did (no FP16 mixed in).
        config.set_flag(trt.BuilderFlag.INT8)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise TensorRTBuildError(f"{onnx_path.name}: TensorRT failed to build a {precision} engine (see the log above)")
    return bytes(serialized)


# -- engine cache ------------------------------------------------------------------------------------------
class EngineCache:
    """``<folder>/<component>.<precision>.<key>.engine`` + ``.json`` describing what it was built for."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)

    def identity(self, onnx_path: Path, precision: str, device: torch.device) -> dict[str, str]:
        trt = import_tensorrt()
        return {"onnx_sha256": file_sha256(onnx_path), "precision": precision,
                "tensorrt": str(trt.__version__), **gpu_identity(device)}

    def get_or_build(self, component: str, onnx_path: str | os.PathLike, precision: str, device: torch.device,
                     progress: Callable[[str], None] = log.info) -> bytes:
        onnx_path = Path(onnx_path)
        ident = self.identity(onnx_path, precision, device)
        key = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:16]
        path = self.folder / f"{component}.{precision}.{key}.engine"
        if path.is_file():
            return path.read_bytes()
        for other in sorted(self.folder.glob(f"{component}.{precision}.*.json")):
            old = json.loads(other.read_text())
            progress(f"{component}: engine built for TensorRT {old.get('tensorrt')} on {old.get('gpu')} "
                     f"(sm {old.get('compute_capability')}), running TensorRT {ident['tensorrt']} on {ident['gpu']} "
                     f"(sm {ident['compute_capability']}) -> rebuilding")
            break
        warn_without_tensor_cores(device, precision)
        progress(f"{component}: building TensorRT {precision} engine (first build can take minutes; cached after)")
        data = build_engine(onnx_path, precision)
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        path.with_suffix(".json").write_text(json.dumps(ident, indent=2))
        return data


# -- running ------------------------------------------------------------------------------------------------
def _torch_dtype(trt: Any, dtype: Any) -> torch.dtype:
    table = {trt.float32: torch.float32, trt.float16: torch.float16, trt.int32: torch.int32,
             trt.int8: torch.int8, trt.bool: torch.bool}
    if dtype not in table:
        raise TensorRTBuildError(f"unsupported engine I/O type {dtype}")
    return table[dtype]


class TensorRTComponentRunner:
    """A deserialized engine run on torch CUDA tensors (no host round trips between components)."""

    def __init__(self, spec: ComponentSpec, engine_bytes: bytes, precision: str, device: torch.device):
        trt = import_tensorrt()
        require_cuda(device)
        self.name = spec.name
        self.spec = spec
        self.precision = precision
        self.device = device
        self._logger = trt.Logger(trt.Logger.WARNING)
        self.runtime = trt.Runtime(self._logger)
        with torch.cuda.device(device):
            self.engine = self.runtime.deserialize_cuda_engine(engine_bytes)
            if self.engine is None:
                raise TensorRTBuildError(f"{spec.name}: engine deserialization failed (built with another TensorRT?)")
            self.context = self.engine.create_execution_context()
        self.io: dict[str, tuple[tuple[int, ...], torch.dtype]] = {}
        for i in range(self.engine.num_io_tensors):
            name = self.engine.get_tensor_name(i)
            dtype = _torch_dtype(trt, self.engine.get_tensor_dtype(name))
            self.io[name] = (tuple(self.engine.get_tensor_shape(name)), dtype)
        missing = [n for n in (*spec.inputs, *spec.outputs) if n not in self.io]
        if missing:
            raise TensorRTBuildError(f"{spec.name}: engine lacks tensors {missing}")

    def __call__(self, inputs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        keep = []
        for name in self.spec.inputs:
            shape, dtype = self.io[name]
            tensor = inputs[name].to(self.device, dtype).contiguous()
            if tuple(tensor.shape) != shape:
                raise ValueError(f"{self.name}: input {name} has shape {tuple(tensor.shape)}, engine expects {shape}")
            keep.append(tensor)
            self.context.set_tensor_address(name, tensor.data_ptr())
        outputs = {}
        for name in self.spec.outputs:
            shape, dtype = self.io[name]
            outputs[name] = torch.empty(shape, dtype=dtype, device=self.device)
            self.context.set_tensor_address(name, outputs[name].data_ptr())
        stream = torch.cuda.current_stream(self.device)
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise RuntimeError(f"{self.name}: TensorRT execution failed")
        return {n: t.float() for n, t in outputs.items()}
