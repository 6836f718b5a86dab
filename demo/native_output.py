"""Native libraries that print to the process's stderr, quietened where their output is noise."""

from __future__ import annotations

import contextlib
import os
import sys


@contextlib.contextmanager
def quiet_native_stderr():
    """Silence what native code writes to file descriptor 2 meanwhile: loading and closing a
    MediaPipe landmarker prints about fifty lines of LiteRT INFO and WARNING logs, and OpenCV's
    FFmpeg writer a warning for the VP8 tag it then uses anyway; no environment variable turns
    them off. Python's own errors still arrive as exceptions."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
