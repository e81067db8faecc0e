"""One nn.Module -> one self-contained ONNX file with static shapes and embedded metadata.

Opset 17 by default: GridSample (warping) needs >= 16, and TensorRT 8.6's parser supports up to
17 (TensorRT 10, ONNX Runtime and OpenVINO read it too). The dynamo exporter (torch's default,
maintained, cleaner graphs with BatchNorm folded) is the default; ``exporter="torchscript"`` is
the older tracer, about 2-3x faster to export, kept as a fallback for graphs dynamo rejects.
"""
from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import torch
from torch import nn

from yolactedge.deploy.metadata import embed_metadata

DEFAULT_OPSET = 17
EXPORTERS = ("dynamo", "torchscript")


class ExportError(RuntimeError):
    """A component could not be exported to ONNX."""


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """The exporters log progress and version-converter notes at WARNING; keep the CLI readable."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "onnxscript", "onnx_ir", "torch._dynamo", "torch.export")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def export_module(
    module: nn.Module,
    args: Sequence[torch.Tensor],
    path: str | os.PathLike,
    input_names: Sequence[str],
    output_names: Sequence[str],
    *,
    metadata: Mapping[str, str] | None = None,
    exporter: str = "dynamo",
    opset: int = DEFAULT_OPSET,
) -> Path:
    """Export ``module(*args)`` with static shapes to one ``.onnx`` file (weights inside)."""
    import onnx

    if exporter not in EXPORTERS:
        raise ValueError(f"exporter must be one of {EXPORTERS}, got {exporter!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    module = module.eval()
    args = tuple(a.detach().cpu().float().contiguous() for a in args)
    with tempfile.TemporaryDirectory(prefix="yolactedge-onnx-") as tmp:
        raw = Path(tmp) / "raw.onnx"
        try:
            with _quiet_exporter(), torch.no_grad():
                if exporter == "dynamo":
                    program = torch.onnx.export(
                        module, args, None, dynamo=True, opset_version=opset, input_names=list(input_names),
                        output_names=list(output_names), verbose=False, optimize=True, external_data=False,
                    )
                    program.save(str(raw), external_data=False)
                else:
                    torch.onnx.export(
                        module, args, str(raw), dynamo=False, opset_version=opset, input_names=list(input_names),
                        output_names=list(output_names), do_constant_folding=True,
                    )
        except Exception as exc:  # noqa: BLE001 - re-raised with which module failed
            raise ExportError(
                f"ONNX export of {type(module).__name__} failed with the {exporter} exporter: "
                f"{type(exc).__name__}: {str(exc)[:500]}"
                + ("; retry with exporter='torchscript'" if exporter == "dynamo" else "")
            ) from exc
        proto = onnx.load(str(raw))
    _check_names(proto, input_names, output_names, type(module).__name__)
    _float_grids(proto)
    if metadata:
        embed_metadata(proto, metadata)
    onnx.save(proto, str(path))
    return path


def _float_grids(proto) -> None:
    """The TorchScript exporter traces the warp's base grid (``linspace``) as float64; ONNX Runtime
    has no float64 GridSample kernel. Cast such grids back to float32 (in place)."""
    import onnx
    from onnx import TensorProto, helper

    nodes = [n for n in proto.graph.node if n.op_type == "GridSample"]
    if not nodes:
        return
    inferred = onnx.shape_inference.infer_shapes(proto)
    types = {v.name: v.type.tensor_type.elem_type for v in (*inferred.graph.value_info, *inferred.graph.input)}
    for node in nodes:
        grid = node.input[1]
        if types.get(grid) == TensorProto.DOUBLE:
            cast = helper.make_node("Cast", [grid], [f"{grid}_float"], to=TensorProto.FLOAT,
                                    name=f"{node.name}_grid_cast")
            node.input[1] = cast.output[0]
            proto.graph.node.insert(list(proto.graph.node).index(node), cast)


def _check_names(proto, input_names: Sequence[str], output_names: Sequence[str], what: str) -> None:
    """Engines feed tensors by name: a renamed input would silently break routing later."""
    got_in = [i.name for i in proto.graph.input]
    got_out = [o.name for o in proto.graph.output]
    if got_in != list(input_names) or got_out != list(output_names):
        raise ExportError(
            f"{what}: exported names differ from the component spec: inputs {got_in} (want {list(input_names)}), "
            f"outputs {got_out} (want {list(output_names)})"
        )
