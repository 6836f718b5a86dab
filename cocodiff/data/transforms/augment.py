"""Training-time spatial augmentation. Randomness comes only from the `rng` argument."""

from __future__ import annotations

import numpy as np

from cocodiff.data.layouts import Layout
from cocodiff.data.sample import Sample
from cocodiff.data.transforms.geometry import rotate, rotation_2d, rotation_xyz
from cocodiff.data.transforms.presence import check_layout, keypoint_of
from cocodiff.errors import CocodiffError


def random_rotate(sample: Sample, rng: np.random.Generator, max_angle: float = 0.3) -> Sample:
    """Rotate the whole clip by one random rotation about the origin.

    3D: angles about x, y and z, each uniform in [-max_angle, max_angle] radians, applied in that
    order. 2D: one in-plane angle, uniform in the same range. Run it after `pre_normalize`, so the
    rotation turns the body about its own centre. Absent joints stay zero.
    """
    keypoint = keypoint_of(sample)
    if not np.isfinite(max_angle) or max_angle < 0:
        raise CocodiffError(f"max_angle must be a non-negative number of radians, got {max_angle!r}")
    if keypoint.shape[-1] == 2:
        matrix = rotation_2d(rng.uniform(-max_angle, max_angle))
    else:
        matrix = rotation_xyz(*rng.uniform(-max_angle, max_angle, size=3))
    return rotate(sample, matrix)


def mirror(sample: Sample, layout: Layout, axis: int = 0) -> Sample:
    """The mirror image of the action: swap every left joint with its right twin and negate
    coordinate `axis`.

    The default axis 0 (x) is the body's left-right axis in the canonical frame `pre_normalize`
    produces (3D: shoulders along x, spine along y; 2D: spine along -y), so a right-hand wave
    becomes a left-hand wave of the same subject. On raw 2D pixels the reflection is about x = 0,
    not the image centre. Joint scores follow their joints.
    """
    keypoint = keypoint_of(sample)
    check_layout(keypoint, layout)
    if not 0 <= axis < keypoint.shape[-1]:
        raise CocodiffError(f"mirror axis must be one of 0..{keypoint.shape[-1] - 1}, got {axis}")
    order = list(layout.mirror)
    flipped = keypoint[:, :, order, :].copy()
    flipped[..., axis] *= -1.0
    flipped[..., axis] += 0.0  # turn -0.0 back into 0.0 for absent joints
    result = dict(sample)
    result["keypoint"] = flipped
    if sample.get("keypoint_score") is not None:
        result["keypoint_score"] = np.asarray(sample["keypoint_score"], dtype=np.float32)[:, :, order].copy()
    return result
