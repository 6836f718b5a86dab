"""What machine a benchmark ran on: the processor (they differ between machines of one kind),
its cores, AMX, the software versions and the load. No torch import: the onnxruntime workers
use it too."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path


def machine() -> dict:
    cpu, flags = "unknown", ""
    try:
        text = Path("/proc/cpuinfo").read_text()
        flags = text
        cpu = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")), cpu)
    except OSError:
        pass
    versions = {}
    for package in ("torch", "onnxruntime"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return {"cpu": cpu, "logical_cpus": os.cpu_count(), "amx_bf16": " amx_bf16" in flags, **versions,
            "python": platform.python_version(), "load_avg": os.getloadavg()}
