"""A TensorRT engine as a file: the lazy TensorRT import, and the JSON sidecar beside the engine.

`python -m export.trt` builds an engine and writes `<engine>.json` beside it; serve's TensorRT
backend reads both. The sidecar holds what the engine itself cannot: the deployment contract,
the optimisation profile, and where the engine came from (see `export.trt`). Both sides take
these conventions from here, so neither imports the other.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from cocodiff.errors import CocodiffError

SIDECAR_FORMAT = "cocodiff-tensorrt-engine/2"  # 2: the sidecar holds the deployment contract
MISSING_TENSORRT = "TensorRT is not installed (pip install tensorrt on a CUDA host)"


class TensorRTUnavailable(CocodiffError):
    """TensorRT or a GPU it can use is missing here; the ONNX file is still good elsewhere."""


def load_tensorrt():
    """Import TensorRT lazily: nothing else in cocodiff needs it."""
    try:
        import tensorrt
    except ImportError as error:
        raise TensorRTUnavailable(MISSING_TENSORRT) from error
    return tensorrt


def sidecar_path(engine_path: str | os.PathLike) -> Path:
    return Path(f"{engine_path}.json")


def read_sidecar(path: str | os.PathLike) -> dict[str, Any] | None:
    """The sidecar's content, None where there is no sidecar; one-line error if it is unreadable."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CocodiffError(f"{path}: unreadable engine sidecar ({error})") from None
    if not isinstance(content, dict) or content.get("format") != SIDECAR_FORMAT:
        found = content.get("format") if isinstance(content, dict) else type(content).__name__
        raise CocodiffError(f"{path}: engine sidecar of format {found!r}, expected {SIDECAR_FORMAT!r} "
                            "(rebuild the engine with python -m export.trt)")
    return content
