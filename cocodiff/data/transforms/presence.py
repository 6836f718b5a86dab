"""Who and what is present in a clip, plus the checks every transform starts with.

Presence is read from the coordinates alone, the convention of the datasets we load: a joint is
*absent* where all its coordinates are exactly zero, a person is absent in a frame where all its
joints are, and a frame is *empty* where every person is absent. Transforms keep absent things at
exactly zero, so these masks stay meaningful all the way down a pipeline.

Non-finite values follow the same rule: `drop_nonfinite` turns every joint with a NaN or infinite
coordinate (or confidence) into an absent joint, so such values never reach a model. Files are
stricter: a reader refuses NaN in a dataset (`validate_sample`), since there it means corruption.

One known ambiguity: a real joint that sits exactly at (0, 0[, 0]) reads as absent. After
`pre_normalize` that happens to the origin joint of the reference frame when the layout's origin
is a single joint (NTU, Kinect v1); `to_bone` and `to_motion` then zero that joint's bones and
motion in that one frame.
"""

from __future__ import annotations

import numpy as np

from cocodiff.data.layouts import Layout
from cocodiff.data.sample import Sample
from cocodiff.errors import CocodiffError


def keypoint_of(sample: Sample) -> np.ndarray:
    """The sample's keypoint array as float32 (M, T, V, C), or a one-line error."""
    if not isinstance(sample, dict) or "keypoint" not in sample:
        raise CocodiffError("a transform needs a sample dict with a 'keypoint' array")
    keypoint = np.asarray(sample["keypoint"], dtype=np.float32)
    if keypoint.ndim != 4 or keypoint.shape[3] not in (2, 3) or 0 in keypoint.shape[:3]:
        raise CocodiffError(
            "'keypoint' must be (persons >= 1, frames >= 1, joints, 2 or 3 channels), "
            f"got shape {keypoint.shape}"
        )
    return keypoint


def check_layout(keypoint: np.ndarray, layout: Layout) -> None:
    if keypoint.shape[2] != layout.num_joints:
        raise CocodiffError(
            f"clip has {keypoint.shape[2]} joints, but layout {layout.name!r} has {layout.num_joints}"
        )


def check_window(window: int) -> int:
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1:
        raise CocodiffError(f"window must be a positive number of frames, got {window!r}")
    return int(window)


def joint_present(keypoint: np.ndarray) -> np.ndarray:
    """(M, T, V) bool: the joint has at least one non-zero coordinate."""
    return np.any(np.asarray(keypoint) != 0, axis=-1)


def person_present(keypoint: np.ndarray) -> np.ndarray:
    """(M, T) bool: the person has at least one present joint in that frame."""
    return np.any(np.asarray(keypoint) != 0, axis=(-2, -1))


def frame_mask(keypoint: np.ndarray) -> np.ndarray:
    """(T,) bool: at least one person is present in the frame."""
    return np.any(np.asarray(keypoint) != 0, axis=(0, 2, 3))


def valid_range(keypoint: np.ndarray) -> tuple[int, int]:
    """(start, stop): from the first to just past the last non-empty frame; (0, 0) if none.

    Zero padding before and after the action is left out; empty frames *inside* the span (a
    tracking drop-out) are kept, since dropping them would distort time.
    """
    frames = np.flatnonzero(frame_mask(keypoint))
    if frames.size == 0:
        return 0, 0
    return int(frames[0]), int(frames[-1]) + 1


def valid_frames(keypoint: np.ndarray) -> int:
    """How many frames the valid span holds (see `valid_range`); 0 for an all-zero clip."""
    start, stop = valid_range(keypoint)
    return stop - start


def drop_nonfinite(sample: Sample) -> Sample:
    """Joints with a NaN or infinite coordinate or score become absent: zero coordinates and score."""
    keypoint, score, bad = nonfinite_to_absent(keypoint_of(sample), sample.get("keypoint_score"))
    result = dict(sample)
    if bad.any():
        result["keypoint"] = keypoint
        if score is not None:
            result["keypoint_score"] = score
    return result


def nonfinite_to_absent(keypoint: np.ndarray, score: np.ndarray | None = None):
    """`drop_nonfinite`'s rule on bare arrays (..., V, C) and (..., V) of any leading shape, so
    that a live frame with no person in it follows it too: (keypoint, score, the joints zeroed)."""
    keypoint = np.asarray(keypoint, dtype=np.float32)
    bad = ~np.isfinite(keypoint).all(axis=-1)
    if score is not None:
        score = np.asarray(score, dtype=np.float32)
        bad |= ~np.isfinite(score)
        score = np.where(bad, 0.0, score).astype(np.float32)
    return np.where(bad[..., None], 0.0, keypoint).astype(np.float32), score, bad


def pad_persons(sample: Sample, num_persons: int) -> Sample:
    """Exactly `num_persons` person slots: keep the first ones, or append all-zero persons."""
    if isinstance(num_persons, bool) or not isinstance(num_persons, (int, np.integer)) or num_persons < 1:
        raise CocodiffError(f"num_persons must be a positive integer, got {num_persons!r}")
    keypoint = keypoint_of(sample)
    result = dict(sample)
    result["keypoint"] = _fit_first_axis(keypoint, int(num_persons))
    if sample.get("keypoint_score") is not None:
        result["keypoint_score"] = _fit_first_axis(np.asarray(sample["keypoint_score"], np.float32), int(num_persons))
    return result


def _fit_first_axis(array: np.ndarray, size: int) -> np.ndarray:
    if array.shape[0] >= size:
        return array[:size].copy()
    padding = np.zeros((size - array.shape[0],) + array.shape[1:], dtype=array.dtype)
    return np.concatenate([array, padding], axis=0)
