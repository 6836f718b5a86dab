"""Training-time spatial augmentation. Randomness comes only from the `rng` argument."""

from __future__ import annotations

import numpy as np

from cocodiff.data.sample import Sample
from cocodiff.data.transforms.geometry import rotate, rotation_2d, rotation_xyz
from cocodiff.data.transforms.presence import keypoint_of
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
