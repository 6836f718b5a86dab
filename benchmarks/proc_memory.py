"""Resident memory of this process, from Linux /proc; no torch import, so the onnxruntime
workers of onnx_speed.py can use it too."""

from __future__ import annotations

from pathlib import Path


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident set size of this process in MiB (Linux /proc)."""
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return int(status["VmRSS"].split()[0]) / 1024, int(status["VmHWM"].split()[0]) / 1024


def reset_peak_rss() -> None:
    """Make the peak RSS (VmHWM) restart from the current RSS, so setup does not count."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:  # then the peak may include setup
        pass
