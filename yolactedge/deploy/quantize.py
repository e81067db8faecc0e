"""INT8 by explicit quantization: entropy (KL-divergence) calibration of activation ranges with ONNX
Runtime's calibrator, written as QuantizeLinear/DequantizeLinear (QDQ) nodes into the ONNX file.
The QDQ file is the INT8 artifact: ONNX Runtime runs it with integer kernels, OpenVINO turns it into
INT8 layers, TensorRT builds explicit-quantization engines from it.

Schemes: CPUs want unsigned activations with signed per-channel weights (their integer kernels are
u8 x s8; signed activations left most convolutions in FP32 on an AVX2 machine); TensorRT accepts
only symmetric signed INT8 (zero point 0), so ``--format tensorrt`` uses the ``tensorrt`` scheme.
Ranges do not depend on the scheme, so both reuse one calibration cache entry.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from contextlib import redirect_stdout
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from yolactedge.deploy.entropy import entropy_ranges

log = logging.getLogger(__name__)

# Ops that get Q/DQ: the compute and data-movement ops with integer kernels. Softmax, Tanh and
# Sigmoid (class probabilities, mask coefficients) and GridSample (warping) stay float.
QUANT_OPS = ("Conv", "MatMul", "Gemm", "Add", "Mul", "Concat", "Relu", "Clip", "LeakyRelu", "MaxPool",
             "Resize", "Transpose", "Reshape")
CALIBRATION_METHOD = "entropy"
# Histogram bins for the KL search. ORT's default (128 bins for 128 quantized bins) leaves a single
# candidate threshold - the full range - i.e. silently MinMax; 2048 is TensorRT's entropy setting.
ENTROPY_BINS = 2048
QUANTIZED_BINS = 128
KL_SEARCH_VERSION = "yolactedge-kl-1"  # part of the cache key: a changed search must not reuse old ranges


@dataclass(frozen=True)
class QuantScheme:
    name: str
    unsigned_activations: bool
    symmetric_activations: bool
    reduce_range: bool
    per_channel: bool = True


SCHEMES = {
    # u8 activations / s8 per-channel weights. reduce_range (7-bit weights) guards against int16
    # saturation in the u8 x s8 kernels of CPUs without VNNI.
    "cpu": QuantScheme("cpu", unsigned_activations=True, symmetric_activations=False, reduce_range=True),
    "tensorrt": QuantScheme("tensorrt", unsigned_activations=False, symmetric_activations=True, reduce_range=False),
}


def default_cache_dir() -> Path:
    """``$YOLACTEDGE_CACHE``, else ``$XDG_CACHE_HOME/yolactedge``, else ``~/.cache/yolactedge``."""
    if os.environ.get("YOLACTEDGE_CACHE"):
        return Path(os.environ["YOLACTEDGE_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "yolactedge"


def calibration_key(model_hash: str, component: str, data_hash: str, count: int, extra: Mapping[str, Any]) -> str:
    """Cache key: (model, component, calibration data, count) plus what shapes/names the ranges
    depend on (input size, batch, exporter, library versions)."""
    payload = {"model": model_hash, "component": component, "data": data_hash, "count": count,
               "method": CALIBRATION_METHOD, "search": KL_SEARCH_VERSION, **extra}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:24]


class _ListReader:
    """ONNX Runtime ``CalibrationDataReader`` over one in-memory stride of samples."""

    def __init__(self, samples: Sequence[Mapping[str, Any]]):
        self._iter = iter(samples)

    def get_next(self):
        return next(self._iter, None)

    def __iter__(self):
        return self

    def __next__(self):
        item = self.get_next()
        if item is None:
            raise StopIteration
        return item


def preprocess_for_quantization(fp32_path: str | os.PathLike, out_path: str | os.PathLike) -> Path:
    """ORT's recommended pre-pass (shape inference + graph optimisation) before calibration."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    quant_pre_process(str(fp32_path), str(out_path), skip_symbolic_shape=True)
    return Path(out_path)


def calibrate_entropy(model_path: Path, strides: Iterable[Sequence[Mapping[str, Any]]], cache_path: Path, work: Path,
                      bins: int = ENTROPY_BINS) -> int:
    """Entropy calibration fed stride by stride (ORT keeps every intermediate activation of a
    stride in memory before binning it: ~0.5 GB per 550x550 image for a ResNet-50 backbone).
    Writes the ranges to ``cache_path``; returns the number of samples seen."""
    from onnxruntime.quantization.calibrate import (
        CalibrationMethod, TensorsData, create_calibrator, save_tensors_data,
    )

    calibrator = create_calibrator(model_path, None, augmented_model_path=str(work / "augmented.onnx"),
                                   calibrate_method=CalibrationMethod.Entropy,
                                   extra_options={"num_bins": bins, "num_quantized_bins": QUANTIZED_BINS})
    seen = 0
    with redirect_stdout(StringIO()):  # the collector prints a line per stride
        for stride in strides:
            calibrator.collect_data(_ListReader(stride))
            seen += len(stride)
    if not seen:
        raise ValueError(f"no calibration samples for {model_path.name}")
    # ORT's histograms, our vectorised KL search (same search, ~10x faster, float expansion).
    ranges = entropy_ranges(calibrator.collector.get_histogram_dict(), QUANTIZED_BINS)
    save_tensors_data(TensorsData(CalibrationMethod.Entropy, ranges), cache_path)
    return seen


@dataclass
class QuantResult:
    path: Path
    cache_path: Path
    cache_hit: bool
    samples: int
    seconds: float


def quantize_qdq(
    fp32_path: str | os.PathLike, out_path: str | os.PathLike, samples: Any, *, key: str,
    scheme: QuantScheme = SCHEMES["cpu"], cache_dir: str | os.PathLike | None = None, stride: int = 4,
    op_types: Sequence[str] = QUANT_OPS, nodes_to_exclude: Sequence[str] = (), bins: int = ENTROPY_BINS,
) -> QuantResult:
    """FP32 component file -> QDQ INT8 file. ``samples`` offers ``chunks(stride)`` (a ``SpoolView``);
    it is read only when the calibration cache has no entry for ``key`` (which must cover ``bins``)."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    start = time.perf_counter()
    cache_path = Path(cache_dir or default_cache_dir() / "calibration") / f"{key}.json"
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    out_path = Path(out_path)
    with tempfile.TemporaryDirectory(prefix="yolactedge-quant-") as tmp:
        work = Path(tmp)
        pre = preprocess_for_quantization(fp32_path, work / "pre.onnx")
        hit = cache_path.is_file()
        seen = 0
        if not hit:
            seen = calibrate_entropy(pre, samples.chunks(stride), cache_path, work, bins)
        activation = QuantType.QUInt8 if scheme.unsigned_activations else QuantType.QInt8
        with redirect_stdout(StringIO()):
            quantize_static(
                str(pre), str(out_path), None, quant_format=QuantFormat.QDQ, op_types_to_quantize=list(op_types),
                per_channel=scheme.per_channel, reduce_range=scheme.reduce_range, activation_type=activation,
                weight_type=QuantType.QInt8, nodes_to_exclude=list(nodes_to_exclude),
                calibrate_method=CalibrationMethod.Entropy, calibration_cache_path=str(cache_path),
                extra_options={"ActivationSymmetric": scheme.symmetric_activations, "WeightSymmetric": True},
            )
    return QuantResult(out_path, cache_path, hit, seen, time.perf_counter() - start)
