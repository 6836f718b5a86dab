"""Native libraries that print to the process's stderr, quietened where their output is noise."""

from __future__ import annotations

import contextlib
import os
import sys
import threading

_LOCK = threading.Lock()
_DEPTH = 0  # nested or concurrent users: fd 2 is redirected by the first and restored by the last
_SAVED: int | None = None


@contextlib.contextmanager
def quiet_native_stderr():
    """Silence what native code writes to file descriptor 2 meanwhile: loading and closing a
    MediaPipe landmarker prints about fifty lines of LiteRT INFO and WARNING logs, and OpenCV's
    FFmpeg writer a warning for the VP8 tag it then uses anyway; no environment variable turns
    them off. Python's own errors still arrive as exceptions."""
    global _DEPTH, _SAVED
    with _LOCK:
        if _DEPTH == 0:
            sys.stderr.flush()
            _SAVED = os.dup(2)
            with open(os.devnull, "wb") as null:
                os.dup2(null.fileno(), 2)
        _DEPTH += 1
    try:
        yield
    finally:
        with _LOCK:
            _DEPTH -= 1
            if _DEPTH == 0 and _SAVED is not None:
                os.dup2(_SAVED, 2)
                os.close(_SAVED)
                _SAVED = None
