"""Coordinate frames: which physical direction each axis points to, where the origin lies, units.

A frame names, for every axis, a direction *as seen from the camera* (`right`, `left`, `up`,
`down`, `away`, `toward`), where its origin is, and the units. Two frames then determine the
exact change of coordinates between them, so a skeleton recorded by one sensor can be fed to a
model trained on another without being turned around or mirrored:

- `KINECT`: the Kinect camera frame that NTU RGB+D, NW-UCLA, UTD-MHAD and the embedded dataset
  use: +x to the camera's left, +y up, +z away from the camera, metres, origin at the sensor.
- `MEDIAPIPE_WORLD`: MediaPipe Pose's world landmarks: +x to the image's right, +y down, +z
  away from the camera (larger is farther), metres, origin midway between the hips.
- `IMAGE`: 2D image coordinates normalised by the image width and height (x / W, y / H), +x to
  the right, +y down, origin at the top-left corner: MediaPipe's image landmarks,
  Kinetics-Skeleton's OpenPose coordinates.

3D frames must be right-handed (every sensor above is). A left-handed one would describe a
mirror image of the scene, and converting it to a right-handed frame would reflect the body:
the subject's left hand would become a right hand. Such a frame is refused, so a conversion
between 3D frames is always a proper rotation (determinant +1), a unit scale and a shift.

Origins. A hip-centred skeleton placed in a camera frame stands `BODY_DISTANCE` metres in front
of the camera, where Kinect recordings have their subjects: its joints then have the camera
frame's typical coordinates, and none of them sits at exactly (0, 0, 0), which the data format
reads as "absent". (Pre-normalisation re-centres every clip anyway; models trained without it
see a body at a Kinect-like distance.) The other way round, from a camera frame to a hip-centred
one, would need the hips of each frame: it is refused. 2D frames lie in the image plane with
their origin at a corner: an axis that points the other way maps v to 1 - v.

Absent joints (all coordinates exactly zero) stay exactly zero through every conversion.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from cocodiff.errors import CocodiffError

# Directions in the camera's own right-handed basis: x right, y down, z forward (OpenCV's).
_DIRECTIONS = {
    "right": (1.0, 0.0, 0.0), "left": (-1.0, 0.0, 0.0),
    "down": (0.0, 1.0, 0.0), "up": (0.0, -1.0, 0.0),
    "away": (0.0, 0.0, 1.0), "toward": (0.0, 0.0, -1.0),
}
DIRECTIONS = tuple(_DIRECTIONS)
UNITS = ("metres", "millimetres", "normalised")
ORIGINS = {3: ("camera", "hips"), 2: ("corner",)}
BODY_DISTANCE = 3.0  # metres: where a hip-centred body stands in a camera frame (NTU subjects: 2.5-3.5 m)
_METRES = {"metres": 1.0, "millimetres": 1e-3}
_KEYS = ("x", "y", "z", "units", "origin")


@dataclass(frozen=True)
class CoordinateFrame:
    """Where the axes point (from the camera's point of view), the units and the origin; `z` is
    None in 2D."""

    x: str
    y: str
    z: str | None
    units: str
    origin: str

    def __post_init__(self) -> None:
        for axis, direction in (("x", self.x), ("y", self.y), ("z", self.z)):
            if direction is None and axis == "z":
                continue
            if direction not in _DIRECTIONS:
                raise CocodiffError(f"coordinate frame: {axis} points {direction!r}; use one of {', '.join(DIRECTIONS)}")
        if self.units not in UNITS:
            raise CocodiffError(f"coordinate frame: units {self.units!r}; use one of {', '.join(UNITS)}")
        if self.origin not in ORIGINS[self.dims]:
            raise CocodiffError(f"{self.dims}D coordinate frame: origin {self.origin!r}; use "
                                f"{' or '.join(ORIGINS[self.dims])}")
        if self.z is None:
            if self.x not in ("right", "left") or self.y not in ("up", "down"):
                raise CocodiffError(f"2D coordinate frame: x must point right or left and y up or down, "
                                    f"got x {self.x}, y {self.y}")
            if self.units != "normalised":
                raise CocodiffError(f"2D coordinate frame: units must be 'normalised' (x / width, y / height), "
                                    f"got {self.units!r}")
            return
        if self.units == "normalised":
            raise CocodiffError("3D coordinate frame: units must be metres or millimetres")
        basis = self.basis
        if abs(abs(np.linalg.det(basis)) - 1.0) > 1e-9:
            raise CocodiffError(f"coordinate frame: x {self.x}, y {self.y}, z {self.z} do not name three different axes")
        if np.linalg.det(basis) < 0:
            raise CocodiffError(f"coordinate frame x {self.x}, y {self.y}, z {self.z} is left-handed: it describes a "
                                "mirror image of the scene; flip one axis where the data is recorded")

    @property
    def dims(self) -> int:
        return 2 if self.z is None else 3

    @property
    def basis(self) -> np.ndarray:
        """(C, C): row i is the camera-basis direction of axis i (3D), or its image-plane part (2D)."""
        names = (self.x, self.y) if self.z is None else (self.x, self.y, self.z)
        return np.array([_DIRECTIONS[name][:self.dims] for name in names], dtype=np.float64)

    def describe(self) -> str:
        axes = f"x {self.x}, y {self.y}" + ("" if self.z is None else f", z {self.z}")
        return f"{axes} (seen from the camera), {self.units}, origin at the {self.origin}"

    def to_dict(self) -> dict[str, Any]:
        return {"x": self.x, "y": self.y, "z": self.z, "units": self.units, "origin": self.origin}

    @classmethod
    def from_dict(cls, value: Any, where: str = "coordinate frame") -> CoordinateFrame:
        if not isinstance(value, Mapping) or set(value) != set(_KEYS):
            raise CocodiffError(f"{where}: expected a mapping with keys {', '.join(_KEYS)}, got {value!r}")
        if not all(isinstance(value[key], str) for key in ("x", "y", "units", "origin")) or not (
                value["z"] is None or isinstance(value["z"], str)):
            raise CocodiffError(f"{where}: x, y, units and origin must be text and z text or null, got {dict(value)!r}")
        try:
            return cls(value["x"], value["y"], value["z"], value["units"], value["origin"])
        except CocodiffError as error:
            raise CocodiffError(f"{where}: {error}") from None


KINECT = CoordinateFrame("left", "up", "away", "metres", "camera")
MEDIAPIPE_WORLD = CoordinateFrame("right", "down", "away", "metres", "hips")
IMAGE = CoordinateFrame("right", "down", None, "normalised", "corner")
NAMED_FRAMES: Mapping[str, CoordinateFrame] = {"kinect": KINECT, "mediapipe_world": MEDIAPIPE_WORLD, "image": IMAGE}


def named_frame(name: str) -> CoordinateFrame:
    try:
        return NAMED_FRAMES[name]
    except KeyError:
        raise CocodiffError(f"unknown coordinate frame {name!r}; known frames: {', '.join(NAMED_FRAMES)}") from None


def default_frame(channels: int) -> CoordinateFrame:
    """The frame of data that does not name its own: Kinect's in 3D, normalised image in 2D."""
    return KINECT if channels == 3 else IMAGE


def frame_transform(source: CoordinateFrame, target: CoordinateFrame) -> tuple[np.ndarray, np.ndarray]:
    """(M, b): target coordinates = M @ source coordinates + b, for every present joint.

    M is a rotation times a unit scale in 3D, a relabelling of the image axes in 2D."""
    if source.dims != target.dims:
        raise CocodiffError(f"cannot convert {source.dims}D coordinates ({source.describe()}) to a {target.dims}D "
                            f"frame ({target.describe()})")
    matrix = target.basis @ source.basis.T
    if source.dims == 2:  # an axis pointing the other way runs from the opposite edge of the unit image
        return matrix, (np.diag(matrix) < 0).astype(np.float64)
    matrix = matrix * (_METRES[source.units] / _METRES[target.units])
    if source.origin == target.origin:
        return matrix, np.zeros(3)
    if (source.origin, target.origin) == ("hips", "camera"):
        away = target.basis @ np.array(_DIRECTIONS["away"])  # the camera's "away" in target coordinates
        return matrix, away * BODY_DISTANCE / _METRES[target.units]
    raise CocodiffError(f"cannot convert camera-centred coordinates ({source.describe()}) to a hip-centred frame "
                        f"({target.describe()})")


def convert_points(points: np.ndarray, source: CoordinateFrame, target: CoordinateFrame) -> np.ndarray:
    """`points` (..., C) from `source` to `target` coordinates; absent joints (all zero) stay zero."""
    points = np.asarray(points)
    if points.shape[-1] != source.dims:
        raise CocodiffError(f"coordinates have {points.shape[-1]} channels, the frame {source.describe()} has "
                            f"{source.dims}")
    if source == target:
        return points
    matrix, shift = frame_transform(source, target)
    present = np.any(points != 0, axis=-1, keepdims=True)
    converted = points.astype(np.float64) @ matrix.T + shift
    return np.where(present, converted, 0.0).astype(points.dtype, copy=False)
