"""R-50 at 550: PyTorch eager vs ONNX Runtime / OpenVINO FP32 and INT8 (QDQ, NNCF), speed and deviation vs
PyTorch FP32, side by side (random weights; 16 calibration images). Run: python benchmarks/deploy_engines_r50.py
(ROOT=work folder, default /tmp/deploy_bench_r50; N_CALIB=16). Numbers quoted in yolactedge/deploy/README.md."""
import json, os, statistics, sys, time
from pathlib import Path

import cv2
import numpy as np
import torch

from yolactedge import build_model, get_config
from yolactedge.data.preprocess import preprocess_image
from yolactedge.data.synth import generate_image
from yolactedge.deploy.backends.pipeline import ComponentPipeline
from yolactedge.deploy.backends.pytorch import torch_runners
from yolactedge.deploy.export import export_model
from yolactedge.deploy.load import load_engine
from yolactedge.deploy.parity import Deviation

torch.set_num_threads(2)
ROOT = Path(os.environ.get("ROOT", "/tmp/deploy_bench_r50"))
ROOT.mkdir(parents=True, exist_ok=True)
N_CALIB = int(os.environ.get("N_CALIB", 16))
log = open(ROOT / "log.txt", "a")


def say(*a):
    print(*a, flush=True)
    print(*a, file=log, flush=True)


cfg = get_config("yolact_edge_resnet50_config")
torch.manual_seed(0)
model = build_model(cfg)
# Re-estimate BatchNorm statistics on synthetic images so activations are in a realistic range.
calib_dir = ROOT / "calib"
calib_dir.mkdir(exist_ok=True)
for i in range(N_CALIB):
    p = calib_dir / f"{i:03d}.jpg"
    if not p.exists():
        cv2.imwrite(str(p), generate_image(1, i, image_size=(480, 640)).image)
val = [generate_image(2, i, image_size=(480, 640)).image for i in range(4)]
bn_images = torch.stack([preprocess_image(generate_image(3, i, image_size=(480, 640)).image, cfg.preprocess) for i in range(8)])
for m in model.modules():
    if isinstance(m, torch.nn.BatchNorm2d):
        m.reset_running_stats(); m.momentum = None
model.train()
if os.environ.get("BN_RECAL", "0") == "1":
    with torch.no_grad():
        for i in range(0, 8, 2):
            model.backbone(bn_images[i:i + 2])
else:
    torch.manual_seed(0)
    model = build_model(cfg)
model.eval()

exports = {
    "fp32": dict(target="openvino", precision="fp32"),
    "int8_qdq": dict(target="openvino", precision="int8", calib=str(calib_dir), calib_count=N_CALIB),
    "int8_nncf": dict(target="openvino", precision="int8", calib=str(calib_dir), calib_count=N_CALIB, int8_method="nncf"),
    "paper_qdq": dict(target="openvino", precision="paper", calib=str(calib_dir), calib_count=N_CALIB),
    "paper_nncf": dict(target="openvino", precision="paper", calib=str(calib_dir), calib_count=N_CALIB, int8_method="nncf"),
    "int8_qdq_e2048": dict(target="openvino", precision="int8", calib=str(calib_dir), calib_count=N_CALIB, calib_bins=2048),
    "paper_qdq_e2048": dict(target="openvino", precision="paper", calib=str(calib_dir), calib_count=N_CALIB, calib_bins=2048),
}
for name, opts in exports.items():
    folder = ROOT / name
    if (folder / "manifest.json").exists():
        continue
    t = time.time()
    export_model(model, cfg, folder, progress=say, parity_count=2, **opts)
    say(f"== exported {name} in {time.time() - t:.0f}s")

if os.environ.get("ONLY_EXPORT"):
    sys.exit(0)
engines = {
    "ort_fp32": ("fp32", "onnxruntime"), "ov_fp32": ("fp32", "openvino"),
    "ort_int8_qdq": ("int8_qdq", "onnxruntime"), "ov_int8_qdq": ("int8_qdq", "openvino"), "ov_int8_nncf": ("int8_nncf", "openvino"),
    "ort_paper_qdq": ("paper_qdq", "onnxruntime"), "ov_paper_qdq": ("paper_qdq", "openvino"), "ov_paper_nncf": ("paper_nncf", "openvino"),
    "ort_int8_e2048": ("int8_qdq_e2048", "onnxruntime"), "ov_int8_e2048": ("int8_qdq_e2048", "openvino"),
    "ort_paper_e2048": ("paper_qdq_e2048", "onnxruntime"), "ov_paper_e2048": ("paper_qdq_e2048", "openvino"),
}
SELECT = os.environ.get("ENGINES")
if SELECT:
    engines = {k: v for k, v in engines.items() if k in SELECT.split(",")}
reference = ComponentPipeline(torch_runners(model, cfg), cfg, backend="pytorch", batch=None)
batches = [preprocess_image(v, cfg.preprocess).unsqueeze(0) for v in val]
with torch.inference_mode():
    refs = [reference.infer(b) for b in batches]
loaded = {k: load_engine(ROOT / f, device="cpu", backend=b) for k, (f, b) in engines.items()}
if os.environ.get("SPIN"):
    import yolactedge.deploy.backends.onnxruntime as ortb
    from yolactedge.deploy.load import build_runners
    from yolactedge.deploy.metadata import read_manifest
    real = ortb.session_options
    ortb.session_options = lambda threads=None, spinning=False: real(threads, True)
    for k, (f, b) in list(engines.items()):
        if b == "onnxruntime":
            loaded[k + "_spin"] = load_engine(ROOT / f, device="cpu", backend=b)
    ortb.session_options = real

# deviation
results = {}
for k, eng in loaded.items():
    devs = {n: 0.0 for n in ("loc", "conf", "mask", "proto")}
    cos = {n: 1.0 for n in devs}
    for b, r in zip(batches, refs):
        o = eng.infer(b)
        for n in devs:
            a, c = getattr(r, n).double().flatten(), getattr(o, n).double().flatten()
            devs[n] = max(devs[n], Deviation.between(getattr(r, n), getattr(o, n)).rel)
            cos[n] = min(cos[n], float(torch.nn.functional.cosine_similarity(a, c, dim=0)))
    results[k] = {"rel": devs, "cos": cos, "precision": eng.precision}

# timing: interleaved rounds, median
times = {k: [] for k in ["pytorch_eager", *loaded]}
stage = {k: {} for k in loaded}
x = batches[0]
for k, eng in loaded.items():
    for _ in range(2):
        eng.infer(x)
with torch.inference_mode():
    model(x); model(x)
ROUNDS = int(os.environ.get("ROUNDS", 5))
for r in range(ROUNDS):
    with torch.inference_mode():
        t = time.perf_counter(); model(x); times["pytorch_eager"].append(time.perf_counter() - t)
    for k, eng in loaded.items():
        t = time.perf_counter(); eng.infer(x); times[k].append(time.perf_counter() - t)
        for s, v in eng.last_stage_times.items():
            stage[k].setdefault(s, []).append(v)
base = statistics.median(times["pytorch_eager"])
say(f"\nR-50 550x550 batch 1, {ROUNDS} interleaved rounds, median; calibration {N_CALIB} images")
say(f"{'engine':<16} {'ms':>8} {'vs eager':>9}  rel loc/conf/coef/proto              min cosine")
for k, v in times.items():
    med = statistics.median(v) * 1e3
    line = f"{k:<16} {med:>8.0f} {med / base / 1e3:>9.2f}"
    if k in results:
        rr = results[k]
        line += "  " + " ".join(f"{rr['rel'][n]:.1e}" for n in rr["rel"]) + "   " + " ".join(f"{rr['cos'][n]:.5f}" for n in rr["cos"])
    say(line)
say("per-component medians (ms):")
for k, st in stage.items():
    say(f"  {k:<16} " + " ".join(f"{s}={statistics.median(v):.0f}" for s, v in st.items() if s != "priors"))
json.dump({"times": times, "results": results, "stage": stage}, open(ROOT / "results.json", "w"), indent=1, default=str)
