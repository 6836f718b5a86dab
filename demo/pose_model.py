"""Where the MediaPipe pose model file comes from: a path given, the cache, or MediaPipe's storage.

MediaPipe's wheels hold no model: the Tasks API wants a `.task` bundle (detector + landmarker) on
disk. `pose_model_path()` returns one that exists and is the file it claims to be:

- a path given (`--pose-model`, or `$COCODIFF_POSE_MODEL`) is used as it is, after a check that
  it is a readable `.task` bundle (a zip archive holding TFLite models);
- otherwise the cache (`$COCODIFF_CACHE`, else `~/.cache/cocodiff`) is looked in, and where the
  file is missing it is downloaded from MediaPipe's model storage, checked against the SHA-256 of
  the official full model, and moved into place in one rename (a failed download leaves nothing);
- where that fails (no network), one line says where to put the file.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from cocodiff.atomic import atomic_open
from cocodiff.errors import CocodiffError, first_line

MODEL_NAME = "pose_landmarker_full.task"
MODEL_URL = ("https://storage.googleapis.com/mediapipe-models/pose_landmarker/pose_landmarker_full/"
             "float16/1/pose_landmarker_full.task")
MODEL_SHA256 = "4eaa5eb7a98365221087693fcc286334cf0858e2eb6e15b506aa4a7ecdcec4ad"
_DOWNLOAD_TIMEOUT_S = 30


def cache_folder() -> Path:
    return Path(os.environ.get("COCODIFF_CACHE") or Path.home() / ".cache" / "cocodiff")


def pose_model_path(path: str | os.PathLike | None = None, *, download: bool = True) -> Path:
    """A checked pose model file (see the module docstring); a one-line CocodiffError otherwise."""
    given = path if path is not None else os.environ.get("COCODIFF_POSE_MODEL")
    if given:
        return check_pose_model(Path(given))
    cached = cache_folder() / MODEL_NAME
    if cached.is_file():
        return check_pose_model(cached)
    if not download:
        raise CocodiffError(_where_to_put_it(cached, "it is not there"))
    try:
        fetch_pose_model(cached)
    except CocodiffError as error:
        raise CocodiffError(_where_to_put_it(cached, str(error))) from None
    return check_pose_model(cached)


def check_pose_model(path: Path) -> Path:
    """`path` if it is a readable MediaPipe `.task` bundle; a one-line error naming it otherwise."""
    if not path.exists():
        raise CocodiffError(f"{path}: pose model file not found (the full pose landmarker, {MODEL_NAME}: {MODEL_URL})")
    if not path.is_file():
        raise CocodiffError(f"{path}: is not a file (the pose model is a {MODEL_NAME} file)")
    try:
        with zipfile.ZipFile(path) as bundle:
            names = bundle.namelist()
            broken = bundle.testzip()
    except (zipfile.BadZipFile, OSError) as error:
        raise CocodiffError(f"{path}: not a MediaPipe .task model bundle ({first_line(error)})") from None
    if broken is not None or not any(name.endswith(".tflite") for name in names):
        raise CocodiffError(f"{path}: corrupt MediaPipe .task model bundle "
                            f"({'damaged member ' + broken if broken else 'no TFLite model inside'})")
    return path


def fetch_pose_model(target: Path, url: str | None = None, sha256: str = MODEL_SHA256) -> None:
    """Download `url` (default MODEL_URL) to `target`, atomically, refusing a file whose SHA-256
    is not `sha256`."""
    url = url or MODEL_URL
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT_S) as response, atomic_open(target) as out:
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
            if digest.hexdigest() != sha256:
                raise CocodiffError(f"the download has SHA-256 {digest.hexdigest()[:12]}..., not the "
                                    f"official model's {sha256[:12]}...")
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise CocodiffError(f"could not download it ({first_line(error)})") from None


def _where_to_put_it(cached: Path, why: str) -> str:
    return (f"no pose model: {why}. Put MediaPipe's full pose landmarker ({MODEL_URL}, SHA-256 "
            f"{MODEL_SHA256[:12]}...) at {cached}, or pass --pose-model PATH")
