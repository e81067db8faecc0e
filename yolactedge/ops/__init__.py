"""Box arithmetic, NMS and mask assembly, shared by every backend."""
from yolactedge.ops.detect import Detections, ImageInstances, detect, detect_one, filter_detections, postprocess

__all__ = ["Detections", "ImageInstances", "detect", "detect_one", "filter_detections", "postprocess"]
