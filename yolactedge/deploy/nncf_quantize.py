"""INT8 with OpenVINO's own quantizer (NNCF post-training quantization) - the alternative to QDQ
for ``--format openvino``. The result is OpenVINO IR only (``.xml``/``.bin``), so it serves the
OpenVINO backend, not ONNX Runtime or TensorRT."""
from __future__ import annotations

import logging
import os
import time
from typing import Any, Iterable, Mapping


def import_nncf():
    try:
        import nncf
    except ImportError as exc:
        raise ImportError("NNCF is not installed: pip install nncf (or use --int8-method qdq)") from exc
    return nncf


def quantize_nncf(
    fp32_path: str | os.PathLike, xml_path: str | os.PathLike, samples: Iterable[Mapping[str, Any]], count: int,
    *, fast_bias_correction: bool = True,
) -> float:
    """FP32 component (ONNX) -> INT8 OpenVINO IR calibrated on ``samples`` (re-iterable dicts of
    input name -> array). Returns seconds taken. FP32 weights are kept for unquantized layers."""
    nncf = import_nncf()
    import openvino as ov

    from nncf.common.logging.logger import nncf_logger

    start = time.perf_counter()
    model = ov.Core().read_model(str(fp32_path))
    dataset = nncf.Dataset(samples)
    level = nncf_logger.level
    nncf_logger.setLevel(logging.WARNING)  # NNCF logs every step at INFO; restored below
    try:
        quantized = nncf.quantize(
            model, dataset, subset_size=max(1, count), preset=nncf.QuantizationPreset.PERFORMANCE,
            target_device=nncf.TargetDevice.CPU, fast_bias_correction=fast_bias_correction,
        )
    finally:
        nncf_logger.setLevel(level)
    ov.save_model(quantized, str(xml_path), compress_to_fp16=False)
    return time.perf_counter() - start
