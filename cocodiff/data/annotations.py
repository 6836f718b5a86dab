"""The on-disk dataset format: a PYSKL / MMAction2 annotation pickle.

    {
      "split": {"xsub_train": [frame_dir, ...], "xsub_val": [...], ...},
      "annotations": [sample, ...],          # see cocodiff.data.sample
      "meta": {"layout": "ntu25", "classes": [...], ...},   # optional, ours
    }

Files written by PYSKL or MMAction2 have no "meta"; then the layout and class names come from
the command line or config. Files are read with a restricted unpickler (numpy arrays and
builtins only) and written atomically.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

from cocodiff.atomic import atomic_write_bytes
from cocodiff.data.frames import CoordinateFrame, default_frame
from cocodiff.data.layouts import Layout, get_layout
from cocodiff.data.safe_pickle import safe_loads
from cocodiff.data.sample import Sample, validate_sample
from cocodiff.errors import CocodiffError, DataError

Annotations = dict[str, Any]


def read_bytes(path: str | os.PathLike) -> bytes:
    """The file's bytes, or one `DataError` saying why it cannot be read."""
    path = Path(path)
    if not path.exists():
        raise DataError(path, "no such file")
    if path.is_dir():
        raise DataError(path, "is a directory, expected a file")
    try:
        return path.read_bytes()
    except OSError as error:
        raise DataError(path, f"cannot read ({error.strerror})") from None


def load_annotations(path: str | os.PathLike) -> Annotations:
    """Read an annotation file and check its structure (not yet every sample: see `split_samples`)."""
    data = read_bytes(path)
    if not data.startswith(b"\x80"):
        raise DataError(path, "not an annotation pickle (expected a PYSKL/MMAction2 .pkl file)")
    content = safe_loads(data, path)
    if not isinstance(content, dict):
        raise DataError(path, f"expected a dict with 'split' and 'annotations', got {type(content).__name__}")
    missing = [key for key in ("split", "annotations") if key not in content]
    if missing:
        raise DataError(path, f"missing key(s) {', '.join(map(repr, missing))}; found {sorted(map(str, content))}")
    if not isinstance(content["annotations"], list):
        raise DataError(path, "'annotations' must be a list of sample dicts")
    if not isinstance(content["split"], dict):
        raise DataError(path, "'split' must map split names to lists of frame_dir names")
    content.setdefault("meta", {})
    return content


def save_annotations(content: Annotations, path: str | os.PathLike) -> None:
    """Write `content` as a pickle (protocol 4, readable by PYSKL), atomically."""
    atomic_write_bytes(path, pickle.dumps(content, protocol=4))


def file_layout(content: Annotations, path: str | os.PathLike, override: str | None = None) -> Layout:
    """The layout of a loaded file: `override` if given, else the file's own meta."""
    name = override or content.get("meta", {}).get("layout")
    if name is None:
        raise DataError(path, "the file does not say its joint layout: name it (python -m cocodiff.train: data.layout=ntu25; "
                              "other commands: --layout ntu25)")
    return get_layout(name)


def file_frame(content: Annotations, path: str | os.PathLike, channels: int) -> CoordinateFrame:
    """The coordinate frame a loaded file's meta names, else the default for `channels`
    coordinates (the Kinect camera frame in 3D, the normalised image in 2D)."""
    meta = content.get("meta", {})
    if "frame" not in meta:
        return default_frame(channels)
    return CoordinateFrame.from_dict(meta["frame"], f"{path}: meta 'frame'")


def file_fps(content: Annotations, path: str | os.PathLike, given: float | None, how: str) -> float:
    """`given` if set, else the frame rate a loaded file's meta records; `how` says how to give
    one where it records none."""
    fps = given if given is not None else content.get("meta", {}).get("fps")
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not fps > 0:
        raise DataError(path, f"does not record its frame rate (meta 'fps'): {how}")
    return float(fps)


def split_samples(content: Annotations, split: str, path: str | os.PathLike, layout: Layout | None = None) -> list[Sample]:
    """The validated samples of one split, in the split's order."""
    splits = content["split"]
    if split not in splits:
        raise CocodiffError(f"{path}: no split {split!r}; the file has {', '.join(map(str, splits)) or 'none'}")
    by_name = {}
    for index, sample in enumerate(content["annotations"]):
        if not isinstance(sample, dict) or "frame_dir" not in sample:
            raise DataError(path, f"annotation {index} is not a dict with a 'frame_dir'")
        by_name[sample["frame_dir"]] = sample
    missing = [name for name in splits[split] if name not in by_name]
    if missing:
        raise DataError(path, f"split {split!r} names {len(missing)} sample(s) with no annotation, e.g. {missing[0]!r}")
    return [validate_sample(by_name[name], path, layout) for name in splits[split]]
