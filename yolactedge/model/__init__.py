"""Pure nn.Modules of YolactEdge (no global config, device-agnostic, traceable)."""
from yolactedge.model.build import build_model
from yolactedge.model.outputs import KeyframeState, YolactOutput
from yolactedge.model.yolact import Yolact

__all__ = ["KeyframeState", "Yolact", "YolactOutput", "build_model"]
