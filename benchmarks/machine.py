"""Describe the machine a benchmark ran on (CPU model, cores, memory, Python, key packages)."""

from __future__ import annotations

import os
import platform

from seiflow.workflows.summary import versions


def describe() -> dict:
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = None
    try:
        with open("/proc/meminfo") as f:
            mem = round(int(f.readline().split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_GiB": mem,
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), **versions()}
