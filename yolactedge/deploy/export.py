"""``export_model``: a PyTorch model -> an export folder (component ONNX files, optional OpenVINO IR
or TensorRT engines, ``manifest.json``), checked against PyTorch FP32 before it is saved.

Order of work: FP32 reference traces on real images -> export every component to ONNX -> INT8
components calibrated on the features the FP32 model produces for the calibration images and
quantized (QDQ, or NNCF for OpenVINO) -> backend artifacts -> parity check of every component and
of the whole pipeline with the target backend -> the folder is written only if FP32 parts match
within tolerance (INT8/FP16 deviations are reported as a table).
"""
from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch import nn

from yolactedge.config.schema import ModelConfig
from yolactedge.data.preprocess import preprocess_image
from yolactedge.deploy.backends.pipeline import ComponentPipeline, PipelineTrace
from yolactedge.deploy.backends.pytorch import torch_runners
from yolactedge.deploy.calibration import (
    DEFAULT_COUNT, CalibrationSet, SampleSpool, load_calibration_set, spool_component_inputs, traces_for_frames,
)
from yolactedge.deploy.components import ComponentSpec, build_component, component_specs
from yolactedge.deploy.hardware import cpu_summary
from yolactedge.deploy.load import build_runners, default_backend
from yolactedge.deploy.metadata import (
    MANIFEST_NAME, component_metadata, embed_metadata, file_sha256, model_hash, read_manifest, versions,
    write_manifest,
)
from yolactedge.deploy.onnx_export import DEFAULT_OPSET, export_module
from yolactedge.deploy.parity import FP32_TOLERANCE, ParityError, ParityReport, check_parity, float64_recheck
from yolactedge.deploy.precision import PrecisionPlan
from yolactedge.deploy.quantize import ENTROPY_BINS, SCHEMES, calibration_key, default_cache_dir, quantize_qdq
from yolactedge.deploy.validation_frames import parity_frames

log = logging.getLogger(__name__)

TARGETS = ("onnx", "openvino", "tensorrt")
INT8_METHODS = ("auto", "qdq", "nncf")


@dataclass
class ExportOptions:
    """Everything ``yolactedge export`` can set (the CLI maps its flags one to one)."""

    target: str = "onnx"
    precision: str | PrecisionPlan = "fp32"
    batch: int = 1
    calib: Any = None
    calib_count: int = DEFAULT_COUNT
    calib_stride: int = 4
    calib_cache: str | os.PathLike | None = None
    calib_bins: int = ENTROPY_BINS
    # auto: NNCF for OpenVINO when installed (same speed as our Q/DQ on the 2-core EPYC, 0.9 mask AP
    # better on the demo model's paper plan, see BENCHMARKS.md), else the portable entropy Q/DQ.
    int8_method: str = "auto"
    whole_model: bool = False
    exporter: str = "dynamo"
    opset: int = DEFAULT_OPSET
    parity_source: Any = None
    parity_count: int = 4
    tolerance: float = FP32_TOLERANCE
    device: str = "auto"
    # Folder of component ONNX files this process exported earlier from the same model, config and
    # options (the --auto-precision pool): copied and re-stamped instead of exported a second time.
    reuse_onnx: str | os.PathLike | None = None

    def validate(self) -> None:
        if self.target not in TARGETS:
            raise ValueError(f"unknown export format {self.target!r}; choose one of {', '.join(TARGETS)}")
        if self.int8_method not in INT8_METHODS:
            raise ValueError(f"unknown INT8 method {self.int8_method!r}; choose one of {', '.join(INT8_METHODS)}")
        if self.int8_method == "auto":
            self.int8_method = "nncf" if self.target == "openvino" and _nncf_available() else "qdq"
        if self.int8_method == "nncf" and self.target != "openvino":
            raise ValueError("--int8-method nncf writes OpenVINO IR: use it with --format openvino")
        if self.batch < 1 or self.calib_count < 1 or self.calib_stride < 1 or self.parity_count < 1:
            raise ValueError("batch, calib_count, calib_stride and parity_count must be >= 1")


def apply_overrides(options: Any, overrides: dict[str, Any], what: str) -> Any:
    """Keyword overrides of an options dataclass; an unknown name is a TypeError, not silently ignored."""
    for key, value in overrides.items():
        if not hasattr(options, key):
            raise TypeError(f"unknown {what} option {key!r}")
        setattr(options, key, value)
    return options


def with_input_size(config: ModelConfig, imgsz: Sequence[int] | None) -> ModelConfig:
    """``config`` at ``--imgsz`` (H, or H W): engines have static shapes, so the size is fixed at export."""
    if not imgsz:
        return config
    if len(imgsz) > 2:
        raise ValueError(f"--imgsz takes H or H W, got {len(imgsz)} values")
    h, w = (imgsz[0], imgsz[0]) if len(imgsz) == 1 else imgsz
    if h < 32 or w < 32:
        raise ValueError(f"--imgsz {h} {w}: sizes below 32 px leave no P7 level")
    return config.replace(preprocess={"input_size": (int(h), int(w))})


def _nncf_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("nncf") is not None


@dataclass
class ExportResult:
    folder: Path
    manifest: dict[str, Any]
    parity: ParityReport
    timings: dict[str, dict[str, float]] = field(default_factory=dict)


def _component_file(name: str, precision: str) -> str:
    return f"{name}.int8.onnx" if precision == "int8" else f"{name}.onnx"


def _stamp(path: Path, metadata: dict[str, str]) -> None:
    import onnx

    proto = onnx.load(str(path))
    embed_metadata(proto, metadata)
    onnx.save(proto, str(path))


def _example(spec: ComponentSpec, traces: list[PipelineTrace]) -> tuple[torch.Tensor, ...]:
    for trace in traces:
        if spec.name in trace.ran:
            return tuple(trace.tensors[n] for n in spec.inputs)
    raise RuntimeError(f"no reference pass ran component {spec.name}")


class _Exporter:
    """One export run (state shared by its steps; nothing global)."""

    def __init__(self, model: nn.Module, config: ModelConfig, out_dir: Path, options: ExportOptions,
                 progress: Callable[[str], None]):
        self.model = model.eval().cpu().float()
        self.config = config
        self.out_dir = out_dir
        self.options = options
        self.progress = progress
        self.specs = component_specs(config)
        kind = "gpu" if options.target == "tensorrt" else "cpu"
        self.plan = PrecisionPlan.parse(options.precision, device_kind=kind)
        self.precisions = self.plan.components(list(self.specs))
        self.int8 = [n for n, p in self.precisions.items() if p == "int8"]
        self.digest = model_hash(self.model, config)
        self.timings: dict[str, dict[str, float]] = {n: {} for n in self.specs}
        self.calibration_info: dict[str, Any] | None = None
        self.reference = ComponentPipeline(torch_runners(self.model, config), config, backend="pytorch", batch=None)

    # -- steps --------------------------------------------------------------------------------------------
    def _check_target(self) -> None:
        if self.options.target == "tensorrt":
            from yolactedge.deploy.backends.tensorrt import import_tensorrt, require_cuda

            import_tensorrt()
            require_cuda(torch.device("cuda" if self.options.device == "auto" else self.options.device))

    def run(self) -> ExportResult:
        opts = self.options
        self._check_target()
        calib = load_calibration_set(opts.calib, opts.calib_count, self.config) if self.int8 else None
        self.progress(f"export {self.config.name} {self.config.input_size[0]}x{self.config.input_size[1]} "
                      f"batch {opts.batch} -> {opts.target} [{self.plan}]")
        # Video presets need at least a keyframe and a following frame for the non-keyframe components.
        count = max(opts.parity_count, 2) if self.config.is_video else opts.parity_count
        frames = parity_frames(self.config, count, opts.parity_source, calib)
        start = time.perf_counter()
        traces = list(traces_for_frames(self.reference, frames, self.config, keyframe_interval=2, batch=opts.batch))
        batches = [preprocess_image(f, self.config.preprocess).unsqueeze(0).repeat(opts.batch, 1, 1, 1) for f in frames]
        self.progress(f"  reference: PyTorch FP32 on {len(frames)} images ({time.perf_counter() - start:.1f}s)")
        self.out_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{self.out_dir.name}.staging-", dir=self.out_dir.parent))
        try:
            entries = self._export_components(staging, traces)
            if self.int8:
                self._quantize(staging, entries, calib)
            if opts.target == "openvino":
                self._openvino_ir(staging, entries)
            manifest = self._manifest(entries)
            write_manifest(staging, manifest)
            report = self._parity(staging, manifest, traces, batches)
            manifest["parity"] = report.to_dict()
            if opts.whole_model:
                manifest["whole_model"] = self._whole_model(staging, batches[0])
            write_manifest(staging, manifest)
            self._publish(staging)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return ExportResult(self.out_dir, read_manifest(self.out_dir), report, self.timings)

    def pool(self, precisions: Sequence[str]) -> dict[str, dict[str, dict[str, Any]]]:
        """Every component in each of ``precisions`` in ``out_dir``: {precision: manifest components}.
        One ONNX export and one INT8 calibration per component then serve every plan a search tries."""
        self._check_target()
        opts = self.options
        calib = load_calibration_set(opts.calib, opts.calib_count, self.config)
        frames = parity_frames(self.config, 2 if self.config.is_video else 1, opts.parity_source, calib)
        traces = list(traces_for_frames(self.reference, frames, self.config, keyframe_interval=2, batch=opts.batch))
        self.out_dir.mkdir(parents=True, exist_ok=True)
        entries = self._export_components(self.out_dir, traces)
        # FP16 is a build flag of the FP32 file, INT8 a separate QDQ (or NNCF) file next to it.
        pool = {p: {n: {**e, "precision": p} for n, e in entries.items()} for p in precisions if p != "int8"}
        if "int8" in precisions:
            self._quantize(self.out_dir, entries, calib, keep_fp32=True)
            pool["int8"] = entries
        if opts.target == "openvino":
            for components in pool.values():
                self._openvino_ir(self.out_dir, components)
        return pool

    def _metadata(self, name: str, precision: str) -> dict[str, str]:
        calibration = self.calibration_info if precision == "int8" else None
        return component_metadata(self.config, name, precision, model_digest=self.digest, calibration=calibration,
                                  batch=self.options.batch)

    def _export_components(self, staging: Path, traces: list[PipelineTrace]) -> dict[str, dict[str, Any]]:
        entries = {}
        for i, (name, spec) in enumerate(self.specs.items(), 1):
            start = time.perf_counter()
            args = _example(spec, traces)
            path = staging / f"{name}.onnx"
            file_precision = "fp32" if self.precisions[name] == "int8" else self.precisions[name]  # QDQ comes later
            reuse = Path(self.options.reuse_onnx) / path.name if self.options.reuse_onnx else None
            if reuse is not None and reuse.is_file():
                shutil.copyfile(reuse, path)
                _stamp(path, self._metadata(name, file_precision))
            else:
                export_module(build_component(self.model, name), args, path, spec.inputs, spec.outputs,
                              metadata=self._metadata(name, file_precision),
                              exporter=self.options.exporter, opset=self.options.opset)
            self.timings[name]["export_s"] = time.perf_counter() - start
            entries[name] = {
                "file": path.name, "precision": self.precisions[name], "group": spec.group,
                "inputs": {n: list(a.shape) for n, a in zip(spec.inputs, args)},
                "outputs": {n: list(_shape_of(n, spec, traces)) for n in spec.outputs},
            }
            self.progress(f"  [{i}/{len(self.specs)}] {name:<16} {self.precisions[name]:<5} ONNX "
                          f"{self.timings[name]['export_s']:.1f}s")
        return entries

    def _quantize(self, staging: Path, entries: dict[str, dict[str, Any]], calib: CalibrationSet,
                  keep_fp32: bool = False) -> None:
        opts = self.options
        scheme = SCHEMES["tensorrt" if opts.target == "tensorrt" else "cpu"]
        method = "entropy-qdq" if opts.int8_method == "qdq" else "nncf"
        self.calibration_info = {**calib.summary(), "method": method,
                                 **({"bins": opts.calib_bins} if opts.int8_method == "qdq" else {}),
                                 "scheme": scheme.name if opts.int8_method == "qdq" else "openvino"}
        cache_dir = Path(opts.calib_cache) if opts.calib_cache else default_cache_dir() / "calibration"
        extra = {"input_size": list(self.config.input_size), "batch": opts.batch, "exporter": opts.exporter,
                 "bins": opts.calib_bins,
                 "opset": opts.opset, "torch": torch.__version__, "ort": versions().get("onnxruntime")}
        keys = {n: calibration_key(self.digest, n, calib.digest, calib.count, extra) for n in self.int8}
        cached = opts.int8_method == "qdq" and all((cache_dir / f"{k}.json").is_file() for k in keys.values())
        with tempfile.TemporaryDirectory(prefix="yolactedge-calib-") as tmp:
            spool = SampleSpool(tmp)
            if cached:
                self.progress(f"  calibration: cache hit for {len(self.int8)} INT8 components ({cache_dir})")
            else:
                start = time.perf_counter()
                self.progress(f"  calibration: {calib.count} images from {calib.description}, FP32 features -> "
                              f"{', '.join(self.int8)}")
                traces = traces_for_frames(self.reference, calib, self.config, batch=opts.batch)
                spool_component_inputs(traces, [self.specs[n] for n in self.int8], spool)
                self.progress(f"  calibration: features collected ({time.perf_counter() - start:.1f}s)")
            for name in self.int8:
                fp32 = staging / entries[name]["file"]
                start = time.perf_counter()
                if opts.int8_method == "qdq":
                    out = staging / _component_file(name, "int8")
                    result = quantize_qdq(fp32, out, spool.samples(name), key=keys[name], scheme=scheme,
                                          cache_dir=cache_dir, stride=opts.calib_stride, bins=opts.calib_bins)
                    _stamp(out, self._metadata(name, "int8"))
                    if not keep_fp32:
                        fp32.unlink()
                    entries[name]["file"] = out.name
                    note = "cache hit" if result.cache_hit else f"entropy on {result.samples} samples"
                else:
                    from yolactedge.deploy.nncf_quantize import quantize_nncf

                    samples = spool.samples(name)
                    quantize_nncf(fp32, staging / f"{name}.int8.xml", samples, len(samples))
                    entries[name].update(openvino=f"{name}.int8.xml", onnx_precision="fp32")
                    note = f"NNCF on {len(samples)} samples"
                self.timings[name]["int8_s"] = time.perf_counter() - start
                entries[name]["calibration"] = self.calibration_info
                self.progress(f"  {name:<16} int8  {note} ({self.timings[name]['int8_s']:.1f}s)")

    def _openvino_ir(self, staging: Path, entries: dict[str, dict[str, Any]]) -> None:
        from yolactedge.deploy.backends.openvino import save_ir

        for name, entry in entries.items():
            if entry.get("openvino"):
                continue
            start = time.perf_counter()
            xml = Path(entry["file"]).with_suffix(".xml").name
            save_ir(staging / entry["file"], staging / xml)
            entry["openvino"] = xml
            self.timings[name]["openvino_ir_s"] = time.perf_counter() - start

    def _manifest(self, entries: dict[str, dict[str, Any]]) -> dict[str, Any]:
        return {
            "target": self.options.target,
            "config": self.config.to_dict(),
            "class_names": list(self.config.class_names),
            "input_size": list(self.config.input_size),
            "batch": self.options.batch,
            "model_hash": self.digest,
            "precision_plan": str(self.plan),
            "precision": dict(self.precisions),
            "components": entries,
            "calibration": self.calibration_info,
            "exporter": {"name": self.options.exporter, "opset": self.options.opset},
            "versions": versions(),
            "host": cpu_summary(),
        }

    def _parity(self, staging: Path, manifest: dict[str, Any], traces: list[PipelineTrace],
                batches: list[torch.Tensor]) -> ParityReport:
        backend = default_backend(manifest)
        start = time.perf_counter()
        device = self.options.device
        from yolactedge.deploy.load import resolve_engine_device

        target = resolve_engine_device(backend, device)
        runners = build_runners(staging, manifest, self.config, backend, target, self.progress)
        self.progress(f"  {backend}: {len(runners)} component engines ready ({time.perf_counter() - start:.1f}s)")
        engine = ComponentPipeline(runners, self.config, backend=backend,
                                   device=target if backend == "tensorrt" else "cpu", batch=self.options.batch)
        report = check_parity(engine, self.reference, traces, batches, self.precisions)
        self.progress(report.table(self.options.tolerance))
        failures = report.fp32_failures(self.options.tolerance)
        if failures:
            self.progress(f"  {len(failures)} FP32 tensors beyond {self.options.tolerance:.0e}: rechecking against "
                          "float64 to separate float32 rounding noise")
            remaining = float64_recheck(failures, self.model, engine, self.reference, traces, batches,
                                        self.options.tolerance)
            for failure in failures:
                if failure not in remaining:
                    self.progress(f"  ok within float32 noise: {failure}")
            if remaining:
                raise ParityError(
                    f"refusing to save: FP32 {backend} outputs deviate from PyTorch FP32 beyond "
                    f"{self.options.tolerance:.0e} (relative) and beyond float32 noise: "
                    + "; ".join(str(f) for f in remaining)
                )
        noisy = [c.component for c in report.components if c.precision != "fp32"]
        if noisy:
            self.progress(f"  note: {', '.join(noisy)} run in reduced precision; deviations above are expected - "
                          "check detection agreement (matched %, mask IoU) and, for a trained model, mAP")
        self.progress(f"  parity checked in {time.perf_counter() - start:.1f}s")
        return report

    def _whole_model(self, staging: Path, batch: torch.Tensor) -> dict[str, Any]:
        from yolactedge.deploy.whole_model import WHOLE_OUTPUTS, export_whole_model

        start = time.perf_counter()
        onnx_path, priors_path = export_whole_model(
            self.model, self.config, staging, batch=self.options.batch, metadata=self._metadata("model", "fp32"),
            exporter=self.options.exporter, opset=self.options.opset,
        )
        check = _whole_model_parity(onnx_path, self.reference, batch)
        if not check <= self.options.tolerance:
            raise ParityError(f"refusing to save: model.onnx deviates from PyTorch FP32 (rel {check:.2e})")
        self.progress(f"  whole model: model.onnx + priors.npy ({time.perf_counter() - start:.1f}s, rel {check:.1e})")
        return {"file": onnx_path.name, "priors": priors_path.name, "outputs": list(WHOLE_OUTPUTS),
                "sha256": file_sha256(onnx_path), "parity_rel": check}

    def _publish(self, staging: Path) -> None:
        """Move the checked files into ``out_dir``. A previous export there is replaced (only its own
        files); a folder holding anything else is left alone with an error."""
        out = self.out_dir
        out.mkdir(parents=True, exist_ok=True)
        old = _export_artifacts(out)
        unknown = [p.name for p in out.iterdir() if p.name not in old]
        clash = [p.name for p in staging.iterdir() if p.name in unknown]
        if clash:
            raise FileExistsError(f"{out} holds files that are not from an earlier export ({', '.join(clash[:5])}); "
                                  "choose another --out")
        for name in old:
            target = out / name
            shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
        for entry in staging.iterdir():
            if not entry.name.endswith(".tmp"):
                os.replace(entry, out / entry.name)


def _export_artifacts(folder: Path) -> set[str]:
    """Names an earlier export wrote into ``folder`` (from its manifest)."""
    if not (folder / MANIFEST_NAME).is_file():
        return set()
    try:
        manifest = read_manifest(folder)
    except Exception:  # noqa: BLE001 - an unreadable manifest: replace only the manifest itself
        return {MANIFEST_NAME}
    names = {MANIFEST_NAME, "engines"}
    for entry in manifest.get("components", {}).values():
        for key in ("file", "openvino"):
            if entry.get(key):
                names.add(entry[key])
                if key == "openvino":
                    names.add(str(Path(entry[key]).with_suffix(".bin")))
    whole = manifest.get("whole_model") or {}
    names.update(v for k, v in whole.items() if k in ("file", "priors"))
    search = (manifest.get("auto_precision") or {}).get("file")
    if search:
        names.add(search)
    return {n for n in names if (folder / n).exists()}


def _shape_of(name: str, spec: ComponentSpec, traces: list[PipelineTrace]) -> torch.Size:
    for trace in traces:
        if spec.name in trace.ran:
            return trace.tensors[name].shape
    raise RuntimeError(f"no reference pass ran component {spec.name}")


def _whole_model_parity(onnx_path: Path, reference: ComponentPipeline, batch: torch.Tensor) -> float:
    """Worst relative deviation of model.onnx (ONNX Runtime CPU) against the FP32 reference."""
    from yolactedge.deploy.backends.onnxruntime import session_options
    from yolactedge.deploy.parity import Deviation
    import onnxruntime

    session = onnxruntime.InferenceSession(str(onnx_path), session_options(), providers=["CPUExecutionProvider"])
    loc, conf, coef, proto, priors = session.run(None, {"image": batch.numpy()})
    ref = reference.infer(batch)
    pairs = [(ref.loc, loc), (ref.conf, conf), (ref.mask, coef), (ref.proto, proto), (ref.priors, priors)]
    return max(Deviation.between(r, torch.from_numpy(o)).rel for r, o in pairs)


def export_model(model: nn.Module, config: ModelConfig, out_dir: str | os.PathLike,
                 options: ExportOptions | None = None, progress: Callable[[str], None] = log.info,
                 **overrides: Any) -> ExportResult:
    """Export ``model`` (built from ``config``; ``config.input_size`` sets every static shape) to
    ``out_dir``. ``options`` or keyword overrides: see ``ExportOptions``. Raises ``CalibrationError``
    (INT8 without usable images), ``ParityError`` (FP32 deviates: nothing written) and
    ``TensorRTUnavailable`` (``target="tensorrt"`` without TensorRT/CUDA)."""
    options = apply_overrides(options or ExportOptions(), overrides, "export")
    options.validate()
    return _Exporter(model, config, Path(out_dir), options, progress).run()


def export_component_pool(model: nn.Module, config: ModelConfig, folder: str | os.PathLike, options: ExportOptions,
                          precisions: Sequence[str], progress: Callable[[str], None] = log.info
                          ) -> dict[str, dict[str, dict[str, Any]]]:
    """Every component of ``model`` in each of ``precisions`` (fp32, fp16, int8) in ``folder``, as
    manifest ``components`` entries per precision: what a precision search composes its candidate
    engines from (``load.build_runners``). No parity check, no manifest; ``folder`` is scratch."""
    options = dataclasses.replace(options, precision="int8" if "int8" in precisions else "fp32")
    options.validate()
    return _Exporter(model, config, Path(folder), options, progress).pool(precisions)
