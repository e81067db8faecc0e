"""``yolactedge checks``: versions and devices, the first thing to paste into a bug report."""
from __future__ import annotations

import argparse
import importlib
import os
import platform


def _version(module: str) -> str:
    try:
        mod = importlib.import_module(module)
    except Exception as exc:  # noqa: BLE001 - report, never crash
        return f"not installed ({type(exc).__name__})" if isinstance(exc, ImportError) else f"broken: {exc}"
    return str(getattr(mod, "__version__", "installed"))


def collect() -> dict[str, str]:
    import torch

    info = {
        "yolactedge": _version("yolactedge"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu cores": str(os.cpu_count()),
        "torch": torch.__version__,
        "torch threads": str(torch.get_num_threads()),
        "CUDA (torch build)": str(torch.version.cuda),
        "CUDA available": str(torch.cuda.is_available()),
    }
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            tensor_cores = "yes" if p.major >= 7 else "no (FP16 may not be faster than FP32)"
            info[f"GPU {i}"] = f"{p.name}, sm_{p.major}{p.minor}, {p.total_memory / 2**30:.1f} GiB, tensor cores: {tensor_cores}"
        info["cuDNN"] = str(torch.backends.cudnn.version())
    for name, module in (("numpy", "numpy"), ("OpenCV", "cv2"), ("pycocotools", "pycocotools"),
                         ("onnx", "onnx"), ("onnxruntime", "onnxruntime"), ("openvino", "openvino"),
                         ("tensorrt", "tensorrt")):
        info[name] = _version(module)
    try:
        import onnxruntime as ort

        info["onnxruntime providers"] = ", ".join(ort.get_available_providers())
    except ImportError:
        pass
    info["display"] = "yes" if (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) else "no (headless: show is disabled)"
    return info


def run(args: argparse.Namespace) -> int:
    info = collect()
    width = max(map(len, info))
    for key, value in info.items():
        print(f"{key:<{width}}  {value}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("checks", help="print versions of Python/torch/CUDA/ONNX Runtime/OpenVINO/OpenCV and devices")
    parser.set_defaults(func=run)
