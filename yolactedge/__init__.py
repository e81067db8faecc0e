"""yolactedge: real-time instance segmentation (YolactEdge, ICRA 2021), weight-compatible re-implementation."""
__version__ = "0.1.0"
