"""Rotation matrices and applying a linear map to a clip.

Matrices act on column vectors: a point p becomes `R @ p`. All angles are in radians and follow
the right-hand rule.
"""

from __future__ import annotations

import numpy as np

from cocodiff.data.sample import Sample
from cocodiff.data.transforms.presence import keypoint_of
from cocodiff.errors import CocodiffError


def rotation_2d(angle: float) -> np.ndarray:
    """(2, 2): counter-clockwise by `angle` in a right-handed (x, y) plane."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s], [s, c]])


def rotation_xyz(angle_x: float, angle_y: float, angle_z: float) -> np.ndarray:
    """(3, 3): about x by `angle_x`, then about y, then about z (that is, Rz @ Ry @ Rx)."""
    cx, sx = np.cos(angle_x), np.sin(angle_x)
    cy, sy = np.cos(angle_y), np.sin(angle_y)
    cz, sz = np.cos(angle_z), np.sin(angle_z)
    rx = np.array([[1.0, 0.0, 0.0], [0.0, cx, -sx], [0.0, sx, cx]])
    ry = np.array([[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]])
    rz = np.array([[cz, -sz, 0.0], [sz, cz, 0.0], [0.0, 0.0, 1.0]])
    return rz @ ry @ rx


def rotation_about(axis: np.ndarray, angle: float) -> np.ndarray:
    """(3, 3): by `angle` about the 3D direction `axis` (right-hand rule)."""
    k = _unit(np.asarray(axis, dtype=np.float64))
    skew = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return np.eye(3) + np.sin(angle) * skew + (1.0 - np.cos(angle)) * skew @ skew


def rotation_between(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The smallest rotation that turns direction `source` into direction `target` (2D or 3D).

    Both must be non-zero. For opposite 3D directions the half turn is about an axis chosen
    perpendicular to `source` (any such axis is a smallest rotation).
    """
    a = _unit(np.asarray(source, dtype=np.float64))
    b = _unit(np.asarray(target, dtype=np.float64))
    if a.shape != b.shape or a.shape not in ((2,), (3,)):
        raise CocodiffError(f"rotation_between needs two 2D or two 3D vectors, got {a.shape} and {b.shape}")
    if a.shape == (2,):
        return rotation_2d(np.arctan2(a[0] * b[1] - a[1] * b[0], a @ b))
    cosine = float(np.clip(a @ b, -1.0, 1.0))
    if cosine < -1.0 + 1e-9:  # opposite: half turn about any axis perpendicular to a
        helper = np.eye(3)[int(np.argmin(np.abs(a)))]
        axis = _unit(np.cross(a, helper))
        return 2.0 * np.outer(axis, axis) - np.eye(3)
    v = np.cross(a, b)
    skew = np.array([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]])
    return np.eye(3) + skew + skew @ skew / (1.0 + cosine)


def rotate(sample: Sample, matrix: np.ndarray) -> Sample:
    """Apply `matrix` (C, C) to every joint. A linear map sends zero to zero, so absent joints
    and persons stay absent."""
    keypoint = keypoint_of(sample)
    matrix = np.asarray(matrix, dtype=np.float64)
    channels = keypoint.shape[-1]
    if matrix.shape != (channels, channels):
        raise CocodiffError(f"a {channels}D clip needs a ({channels}, {channels}) matrix, got {matrix.shape}")
    result = dict(sample)
    result["keypoint"] = (keypoint.astype(np.float64) @ matrix.T).astype(np.float32)
    return result


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    if not np.isfinite(norm) or norm == 0.0:
        raise CocodiffError(f"cannot take the direction of vector {vector.tolist()}")
    return vector / norm
