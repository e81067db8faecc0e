"""Runtimes that execute exported components: ONNX Runtime, OpenVINO, TensorRT (and PyTorch as
the FP32 reference). Each module turns one component file into a ``ComponentRunner``; the
``ComponentPipeline`` chains runners into an ``Engine``."""
BACKENDS = ("onnxruntime", "openvino", "tensorrt")

__all__ = ["BACKENDS"]
