"""Where a model runs: the torch device and the CPU thread count, for every command that runs one."""

from __future__ import annotations

import os

import torch

from cocodiff.errors import CocodiffError


def pick_device(name: str) -> torch.device:
    """`auto` (CUDA when there is a usable GPU, else CPU), `cpu`, `cuda` or `cuda:N`."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise CocodiffError(f"--device {name!r}: use auto, cpu, cuda or cuda:N") from None
    if device.type not in ("cpu", "cuda"):
        raise CocodiffError(f"--device {name!r}: use auto, cpu, cuda or cuda:N")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise CocodiffError(f"--device {name!r} but this machine has no usable CUDA GPU; use --device cpu")
    return device


def busy_cores(loadavg: str = "/proc/loadavg") -> float:
    """How many cores other processes keep busy at this moment: Linux's count of runnable tasks
    minus this one. Elsewhere the 1-minute load average, which lags: right after a `pip install`
    it still reads 1 on an idle machine, which would halve the threads of the quick start."""
    try:
        with open(loadavg, encoding="ascii") as file:
            running = int(file.read().split()[3].split("/")[0])
        return float(max(0, running - 1))
    except (OSError, ValueError, IndexError):
        try:
            return os.getloadavg()[0]
        except OSError:
            return 0.0


def configure_threads(threads: int) -> int:
    """Set torch's CPU thread count and return it.

    `threads` > 0 is used as given. 0 keeps $OMP_NUM_THREADS where it is set (torchrun sets it
    to 1 per process), and otherwise takes the cores no other process is running on now (see
    `busy_cores`), at least one. On a shared machine this matters a lot: on 2 cores with other
    jobs running, one thread trained CTR-GCN 10-20x faster than two, whose every parallel region
    waited for a descheduled thread.
    """
    if threads == 0 and os.environ.get("OMP_NUM_THREADS"):
        return torch.get_num_threads()
    if threads == 0:
        cores = os.cpu_count() or 1
        threads = max(1, min(torch.get_num_threads(), int(cores - busy_cores() + 0.5)))
    torch.set_num_threads(threads)
    return threads


def prepare_device(name: str, threads: int) -> torch.device:
    """The device `name` names, with torch's CPU threads set (see `configure_threads`)."""
    device = pick_device(name)
    configure_threads(threads)
    return device
