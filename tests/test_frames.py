"""Coordinate frames: conversions are proper rotations (never mirrors) with the right units."""

from __future__ import annotations

import numpy as np
import pytest

from cocodiff.data.frames import (
    BODY_DISTANCE,
    IMAGE,
    KINECT,
    MEDIAPIPE_WORLD,
    CoordinateFrame,
    convert_points,
    frame_transform,
    named_frame,
)
from cocodiff.errors import CocodiffError


def test_mediapipe_world_to_kinect_is_a_half_turn_about_the_depth_axis_and_a_step_back():
    matrix, shift = frame_transform(MEDIAPIPE_WORLD, KINECT)
    assert np.allclose(matrix, np.diag([-1.0, -1.0, 1.0]))  # x right -> left, y down -> up, z away stays
    assert np.linalg.det(matrix) == pytest.approx(1.0)
    assert np.allclose(shift, [0.0, 0.0, BODY_DISTANCE])  # the hips, MediaPipe's origin, 3 m in front
    # A point up and to the image's right of the hips, seen by MediaPipe, is up and to the camera's
    # right for Kinect (its -x), 3 m away; the hip midpoint itself is not (0, 0, 0), which reads as absent.
    point = convert_points(np.array([[0.2, -0.5, 0.1], [0.0, 0.0, 0.0]]), MEDIAPIPE_WORLD, KINECT)
    assert np.allclose(point, [[-0.2, 0.5, 3.1], [0.0, 0.0, 0.0]])  # an absent joint stays absent
    with pytest.raises(CocodiffError, match="cannot convert camera-centred coordinates .* to a hip-centred"):
        frame_transform(KINECT, MEDIAPIPE_WORLD)


@pytest.mark.parametrize("x, y, z", [("left", "up", "away"), ("right", "down", "away"), ("away", "left", "up"),
                                     ("toward", "right", "up"), ("up", "away", "left")])
def test_every_3d_conversion_is_a_proper_rotation(x, y, z):
    frame = CoordinateFrame(x, y, z, "metres", "camera")
    for other in (KINECT, CoordinateFrame("right", "down", "away", "metres", "camera")):
        for matrix, shift in (frame_transform(frame, other), frame_transform(other, frame)):
            assert np.allclose(matrix @ matrix.T, np.eye(3)) and np.linalg.det(matrix) == pytest.approx(1.0)
            assert not shift.any()  # same origin: no shift
        there_and_back = frame_transform(other, frame)[0] @ frame_transform(frame, other)[0]
        assert np.allclose(there_and_back, np.eye(3))


def test_a_left_handed_frame_is_refused_as_a_mirror_image():
    with pytest.raises(CocodiffError, match="left-handed: it describes a mirror image"):
        CoordinateFrame("right", "up", "away", "metres", "camera")  # Unity's convention
    with pytest.raises(CocodiffError, match="do not name three different axes"):
        CoordinateFrame("left", "right", "up", "metres", "camera")
    with pytest.raises(CocodiffError, match="3D coordinate frame: origin 'corner'"):
        CoordinateFrame("left", "up", "away", "metres", "corner")


def test_units_scale_and_2d_frames_stay_in_the_image_plane():
    millimetres = CoordinateFrame("left", "up", "away", "millimetres", "camera")
    assert np.allclose(convert_points(np.array([[1000.0, -500.0, 2500.0]]), millimetres, KINECT), [[1.0, -0.5, 2.5]])
    upward = CoordinateFrame("right", "up", None, "normalised", "corner")  # y from the bottom edge
    assert np.allclose(convert_points(np.array([[0.25, 0.75], [0.0, 0.0]]), upward, IMAGE), [[0.25, 0.25], [0, 0]])
    with pytest.raises(CocodiffError, match="cannot convert 2D coordinates"):
        frame_transform(IMAGE, KINECT)
    with pytest.raises(CocodiffError, match="2D coordinate frame: units must be 'normalised'"):
        CoordinateFrame("right", "down", None, "metres", "corner")
    with pytest.raises(CocodiffError, match="x must point right or left"):
        CoordinateFrame("up", "down", None, "normalised", "corner")


def test_absent_joints_stay_zero_and_dict_round_trip():
    points = np.array([[0.0, 0.0, 0.0], [0.1, 0.2, 0.3]], dtype=np.float32)
    converted = convert_points(points, MEDIAPIPE_WORLD, KINECT)
    assert converted.dtype == np.float32 and not converted[0].any()
    for frame in (KINECT, MEDIAPIPE_WORLD, IMAGE):
        assert CoordinateFrame.from_dict(frame.to_dict()) == frame
    assert named_frame("mediapipe_world") == MEDIAPIPE_WORLD
    with pytest.raises(CocodiffError, match="expected a mapping with keys x, y, z, units, origin"):
        CoordinateFrame.from_dict({"x": "left", "y": "up"})
    with pytest.raises(CocodiffError, match="x points 'sideways'"):
        CoordinateFrame.from_dict({"x": "sideways", "y": "up", "z": "away", "units": "metres", "origin": "camera"})
