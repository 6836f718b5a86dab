"""Keep freed memory inside the training process (glibc only).

By default glibc returns large freed blocks (activations of tens of MiB) to the kernel, so every
training step page-faults them in again; on the 2-core CPU machine this costs about a quarter of
a fp32 training step (docs/benchmarks.md). Turning off trimming and per-allocation mmap is the
same as setting MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=<large> before Python starts. The cost
is a higher resident size, which training has anyway at its peak.
"""

from __future__ import annotations

import ctypes
import sys

_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_MAX = -1, -2, -4


def keep_freed_memory() -> bool:
    """Apply the setting to this process; False where glibc's `mallopt` is not available."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(_M_MMAP_MAX, 0) and libc.mallopt(_M_TRIM_THRESHOLD, -1)
                    and libc.mallopt(_M_TOP_PAD, 64 << 20))
    except (OSError, AttributeError):
        return False
