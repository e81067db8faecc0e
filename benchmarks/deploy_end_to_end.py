"""R-50 end to end on the CPU: PyTorch FP32 eager vs ONNX Runtime / OpenVINO plans (fp32, int8, paper).

From a decoded real image to final masks (preprocess -> engine components -> NMS -> masks; no
drawing), interleaved rounds, median. Prints per-stage times, the ratio to PyTorch eager, the
keyframe's FLOP count (2 x conv/linear MACs) and the achieved GFLOP/s as a fraction of the
CPU's peak. Random weights (speed does not depend on them); exports are kept in --work and
reused on the next run. Uses ``yolactedge.bench.run`` (the `yolactedge benchmark` code).

    python benchmarks/deploy_end_to_end.py [--size 550] [--rounds 7] [--peak-gflops 156] \\
        [--precision fp32,int8,paper] [--backends onnxruntime,openvino] [--work /tmp/deploy_e2e_r50]

Peak FP32 default: 2 Zen 3 cores x 2 FMA pipes x 8 fp32 lanes (AVX2) x 2 FLOP x ~2.45 GHz = 156 GFLOP/s.
INT8 rows are reported in the same (FP32-equivalent) FLOPs.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
import torch

from _common import machine
from yolactedge.bench.run import BenchmarkOptions, load_benchmark_model, run_benchmark
from yolactedge.deploy.hardware import cpu_summary, physical_cores

REAL_IMAGE = Path("/usr/share/doc/opencv-doc/examples/data/messi5.jpg")  # Debian's opencv-doc sample photo


def load_image(path: str | None) -> tuple[np.ndarray, str]:
    """The given photo, else the opencv-doc sample, else a generated scene (said so)."""
    candidate = Path(path) if path else REAL_IMAGE
    if candidate.is_file():
        image = cv2.imread(str(candidate))
        if image is None:
            raise SystemExit(f"cannot read image {candidate}")
        return image, str(candidate)
    if path:
        raise SystemExit(f"image {path} does not exist")
    from yolactedge.data.synth import generate_image

    return generate_image(11, 0, image_size=(480, 640)).image, "generated scene 480x640 (no opencv-doc photo found)"


def flops_table(report, peak: float) -> tuple[str, dict]:
    """Achieved GFLOP/s of the network stage and of the whole frame, and per component."""
    macs = report.model["macs"]["key"]
    flop = 2 * sum(macs.values())
    lines = [f"keyframe: {flop / 1e9:.2f} GFLOP (2 x {sum(macs.values()) / 1e9:.2f} GMAC, conv/linear only); "
             f"peak {peak:.0f} GFLOP/s",
             f"{'engine':<24} {'network ms':>10} {'GFLOP/s':>8} {'% peak':>7} "
             f"{'e2e ms':>8} {'GFLOP/s':>8} {'% peak':>7}"]
    out: dict = {"keyframe_flop": flop, "peak_gflops": peak, "rows": {}}
    for row in report.rows:
        net = row.stages_ms["inference"]
        g_net, g_e2e = flop / net / 1e6, flop / row.ms_per_frame / 1e6
        lines.append(f"{row.label:<24} {net:>10.1f} {g_net:>8.1f} {100 * g_net / peak:>6.1f}% "
                     f"{row.ms_per_frame:>8.1f} {g_e2e:>8.1f} {100 * g_e2e / peak:>6.1f}%")
        per = {c: 2 * m / row.components_ms[c] / 1e6 for c, m in macs.items() if row.components_ms.get(c)}
        out["rows"][row.label] = {"network_gflops": g_net, "e2e_gflops": g_e2e, "components_gflops": per}
    lines.append("(INT8 rows count the same FP32-equivalent FLOPs: integer kernels can exceed the FP32 peak)")
    names = [c for c in macs if macs[c]]
    lines += ["", "per component GFLOP/s (GFLOP per keyframe in brackets):",
              f"{'engine':<24}" + "".join(f"{f'{c} ({2 * macs[c] / 1e9:.2f})':>22}" for c in names)]
    for row in report.rows:
        per = out["rows"][row.label]["components_gflops"]
        lines.append(f"{row.label:<24}" + "".join(f"{per.get(c, float('nan')):>22.1f}" for c in names))
    return "\n".join(lines), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="yolact_edge_resnet50_config")
    parser.add_argument("--size", type=int, default=550, help="square input size (default 550)")
    parser.add_argument("--backends", default="onnxruntime,openvino", help="compared with PyTorch eager FP32")
    parser.add_argument("--precision", default="fp32,int8,paper", help="plans of the exported engines")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds (median reported)")
    parser.add_argument("--frames", type=int, default=1, help="passes of the image per engine and round")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--calib-count", type=int, default=16, help="generated INT8 calibration images")
    parser.add_argument("--image", default=None, help=f"the real image (default {REAL_IMAGE} if present)")
    parser.add_argument("--peak-gflops", type=float, default=156.0,
                        help="the CPU's FP32 peak in GFLOP/s (default 156: 2-core Zen 3, AVX2 FMA)")
    parser.add_argument("--threads", type=int, default=None, help="PyTorch threads (default: physical cores)")
    parser.add_argument("--work", default="/tmp/deploy_e2e_r50", help="exports kept and reused here")
    parser.add_argument("--exporter", default="dynamo", choices=("dynamo", "torchscript"))
    parser.add_argument("--json", default=None, help="write the report and the FLOP analysis here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads or physical_cores())
    cpu = cpu_summary()
    features = " ".join(k for k, v in cpu.items() if v is True) or "-"
    print(f"machine: {machine()}")
    print(f"cpu: {cpu['name']} ({cpu['physical_cores']} physical cores; {features})")
    image, image_name = load_image(args.image)
    print(f"image: {image_name} ({image.shape[1]}x{image.shape[0]})")
    model, config, weights = load_benchmark_model(None, args.config, random_weights=True, imgsz=[args.size])
    options = BenchmarkOptions(
        backends=["pytorch", *args.backends.split(",")], precisions=args.precision, source=[image],
        frames=args.frames, rounds=args.rounds, warmup=args.warmup, draw=False, encode=False,
        calib_count=args.calib_count, work_dir=args.work, exporter=args.exporter,
    )
    report = run_benchmark(model, config, options, weights=weights, say=lambda m: print(m, flush=True))
    print()
    print(report.table())
    print()
    text, analysis = flops_table(report, args.peak_gflops)
    print(text)
    if args.json:
        Path(args.json).write_text(json.dumps({**report.to_dict(), "flops": analysis, "image": image_name},
                                              indent=1, default=str))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
