"""The sample dict every reader produces and every transform consumes.

Keys (the PYSKL / MMAction2 convention, so their files drop in):

- `keypoint`: float32 array (M, T, V, C): persons, frames, joints, channels (x, y[, z]).
  A person absent in a frame is all zeros there.
- `keypoint_score`: optional float32 (M, T, V), detector confidence (2D data).
- `label`: int, 0-based class index.
- `frame_dir`: str, the sample's name.
- `total_frames`: int, T.

Transforms may add keys (for example `valid_frames`); nothing removes the ones above.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from cocodiff.data.layouts import Layout
from cocodiff.errors import DataError

Sample = dict[str, Any]


def validate_sample(sample: Any, source: str | os.PathLike, layout: Layout | None = None) -> Sample:
    """Check one sample and return it with canonical dtypes; raise `DataError` naming the problem.

    `source` names the file (and, where useful, the record) in the error message.
    """
    if not isinstance(sample, dict):
        raise DataError(source, f"a sample must be a dict, got {type(sample).__name__}")
    name = sample.get("frame_dir")
    where = f"{source} [{name}]" if name is not None else str(source)
    if "keypoint" not in sample:
        raise DataError(where, "sample has no 'keypoint' array")
    try:
        keypoint = np.asarray(sample["keypoint"], dtype=np.float32)
    except (TypeError, ValueError) as error:
        raise DataError(where, f"'keypoint' is not a numeric array ({error})") from None
    if keypoint.ndim != 4:
        raise DataError(where, f"'keypoint' must have 4 axes (persons, frames, joints, channels), got shape {keypoint.shape}")
    persons, frames, joints, channels = keypoint.shape
    if persons == 0:
        raise DataError(where, "clip has no person")
    if frames == 0:
        raise DataError(where, "clip has zero frames")
    if channels not in (2, 3):
        raise DataError(where, f"expected 2 or 3 coordinates per joint, got {channels}")
    if layout is not None and joints != layout.num_joints:
        raise DataError(where, f"{joints} joints per frame, but layout {layout.name!r} has {layout.num_joints}")
    if not np.isfinite(keypoint).all():
        bad = int((~np.isfinite(keypoint)).any(axis=(0, 2, 3)).sum())
        raise DataError(where, f"NaN or infinite coordinates in {bad} of {frames} frames")
    result = dict(sample)
    result["keypoint"] = keypoint
    result["total_frames"] = frames
    if sample.get("keypoint_score") is not None:
        score = np.asarray(sample["keypoint_score"], dtype=np.float32)
        if score.shape != keypoint.shape[:3]:
            raise DataError(where, f"'keypoint_score' shape {score.shape} does not match keypoint {keypoint.shape[:3]}")
        if not np.isfinite(score).all():
            raise DataError(where, "NaN or infinite values in 'keypoint_score'")
        result["keypoint_score"] = score
    if "label" in sample:
        label = sample["label"]
        if isinstance(label, np.ndarray) and label.size == 1:
            label = label.item()
        if isinstance(label, bool) or not isinstance(label, (int, np.integer)) or label < 0:
            raise DataError(where, f"'label' must be a non-negative integer, got {label!r}")
        result["label"] = int(label)
    return result
