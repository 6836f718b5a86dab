"""Choosing and resizing frames: every function here returns a clip of exactly `window` frames.

All of them work on the clip's *valid span* (`valid_range`: first to last non-empty frame), so
zero padding never gets sampled as if it were motion; an all-zero clip (nobody in view) is used
whole and stays all zeros. Short clips are stretched (frames repeat or are interpolated), so any
T >= 1 works. `keypoint_score`, where present, follows the same frames.

Interpolation is linear along time between the two neighbouring frames where the joint is
present in both; where it is absent in either, the nearer frame is copied instead, so a person
entering or leaving the scene never produces a half-size ghost skeleton between a pose and zero.
"""

from __future__ import annotations

import numpy as np

from cocodiff.data.sample import Sample
from cocodiff.data.transforms.presence import check_window, joint_present, keypoint_of, valid_range
from cocodiff.errors import CocodiffError


def resample(sample: Sample, positions: np.ndarray) -> Sample:
    """The clip at fractional frame `positions` (in 0 .. T-1; clipped to it), interpolated as
    the module docstring describes. The result has `len(positions)` frames."""
    keypoint = keypoint_of(sample)
    frames = keypoint.shape[1]
    positions = np.clip(np.asarray(positions, dtype=np.float64).reshape(-1), 0.0, frames - 1)
    if positions.size == 0:
        raise CocodiffError("resample needs at least one frame position")
    low = np.floor(positions).astype(np.int64)
    high = np.minimum(low + 1, frames - 1)
    weight = positions - low  # in [0, 1); exactly 0 on whole frames

    present = joint_present(keypoint)
    both = present[:, low] & present[:, high]  # (M, W, V)
    take_high = weight >= 0.5

    def blend(array: np.ndarray) -> np.ndarray:
        values = array.astype(np.float64)
        a, b = values[:, low], values[:, high]
        w = weight.reshape((1, -1) + (1,) * (array.ndim - 2))
        near = np.where(take_high.reshape(w.shape), b, a)
        mask = both if array.ndim == 3 else both[..., None]
        return np.where(mask, a + w * (b - a), near).astype(np.float32)

    result = dict(sample)
    result["keypoint"] = blend(keypoint)
    if sample.get("keypoint_score") is not None:
        result["keypoint_score"] = blend(np.asarray(sample["keypoint_score"], dtype=np.float32))
    result["total_frames"] = int(positions.size)
    return result


def crop_positions(start: int, length: int, window: int) -> np.ndarray:
    """`window` evenly spaced positions covering frames start .. start+length-1, both ends
    included (one position: the middle of the crop)."""
    if window == 1:
        return np.array([start + (length - 1) / 2.0])
    return start + np.linspace(0.0, length - 1, window)


def random_crop_resize(
    sample: Sample,
    rng: np.random.Generator,
    window: int,
    min_ratio: float = 0.5,
    max_ratio: float = 1.0,
) -> Sample:
    """A random contiguous crop of the valid span, resized to `window` frames (training).

    The crop keeps a fraction drawn uniformly from [min_ratio, max_ratio] of the valid frames
    (rounded, at least one) at a uniformly random offset. The first and last output frames are
    exactly the crop's first and last frames.
    """
    window = check_window(window)
    _check_ratios(min_ratio, max_ratio)
    start, length = _span(sample)
    ratio = rng.uniform(min_ratio, max_ratio)
    crop = int(np.clip(round(ratio * length), 1, length))
    offset = int(rng.integers(0, length - crop + 1))
    return resample(sample, crop_positions(start + offset, crop, window))


def center_crop_resize(sample: Sample, window: int, ratio: float = 0.95) -> Sample:
    """The deterministic counterpart of `random_crop_resize` for evaluation: the central
    `ratio` of the valid span (rounded, at least one frame), resized to `window` frames."""
    window = check_window(window)
    _check_ratios(ratio, ratio)
    start, length = _span(sample)
    crop = int(np.clip(round(ratio * length), 1, length))
    return resample(sample, crop_positions(start + (length - crop) // 2, crop, window))


def _span(sample: Sample) -> tuple[int, int]:
    """(start, length) of the valid span, or of the whole clip if it is all zeros."""
    keypoint = keypoint_of(sample)
    start, stop = valid_range(keypoint)
    if stop == start:
        return 0, keypoint.shape[1]
    return start, stop - start


def _check_ratios(low: float, high: float) -> None:
    if not (0.0 < low <= high <= 1.0):
        raise CocodiffError(f"crop ratios must satisfy 0 < min_ratio <= max_ratio <= 1, got {low!r} and {high!r}")
