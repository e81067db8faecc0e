"""What the host CPU offers: physical cores (thread counts) and the instruction sets that decide
which INT8 / half-precision paths are fast. Read from the OS, never assumed."""
from __future__ import annotations

import os
from functools import lru_cache


@lru_cache(maxsize=1)
def _cpuinfo() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return ""


def usable_cpus() -> int:
    """Logical CPUs this process may run on (affinity / container limits)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def physical_cores() -> int:
    """Physical cores available to this process: more threads than cores slows ONNX Runtime
    down (about 45 % measured with 4 threads on 2 cores)."""
    pairs = set()
    physical = core = None
    for line in _cpuinfo().splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "physical id":
            physical = value.strip()
        elif key == "core id":
            core = value.strip()
        elif not line.strip() and core is not None:
            pairs.add((physical, core))
            physical = core = None
    if core is not None:
        pairs.add((physical, core))
    cores = len(pairs) or usable_cpus()
    return max(1, min(cores, usable_cpus()))


def cpu_flags() -> frozenset[str]:
    for line in _cpuinfo().splitlines():
        if line.startswith(("flags", "Features")):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


def cpu_summary() -> dict[str, object]:
    """For export manifests and reports: what the timings and INT8 choices were made on."""
    flags = cpu_flags()
    name = next((line.partition(":")[2].strip() for line in _cpuinfo().splitlines()
                 if line.startswith("model name")), "unknown")
    return {
        "name": name,
        "physical_cores": physical_cores(),
        "avx2": "avx2" in flags,
        "avx512": "avx512f" in flags,
        "vnni": bool({"avx512_vnni", "avx_vnni"} & flags),
        "bf16": "avx512_bf16" in flags or "amx_bf16" in flags,
        "fp16": "avx512_fp16" in flags,
    }
