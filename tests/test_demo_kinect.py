"""MediaPipe on NTU RGB+D's video of a take, mapped to ntu25, against the Kinect skeleton of the same
take: the mapping (retargeting + a proper rotation into the Kinect frame) holds 110 mm or better
after a similarity alignment, and a mirrored mapping does not."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from demo.kinect_check import alignment_error, mediapipe_as_ntu25, similarity_align

TAKE = "S001C001P001R001A001"
BOUND_MM = 110.0


def test_similarity_alignment_undoes_rotation_scale_and_shift():
    rng = np.random.default_rng(0)
    points = rng.normal(size=(25, 3))
    rotation = Rotation.from_rotvec([0.3, -1.2, 0.5]).as_matrix()
    moved = 1.7 * points @ rotation.T + [0.4, -2.0, 3.0]
    np.testing.assert_allclose(similarity_align(points, moved), moved, atol=1e-9)


def test_similarity_alignment_never_reflects():
    """A mirror image cannot be aligned by a rotation: the residual stays large."""
    rng = np.random.default_rng(1)
    points = rng.normal(size=(25, 3))
    mirrored = points * [-1.0, 1.0, 1.0]
    residual = np.linalg.norm(similarity_align(mirrored, points) - points, axis=1).mean()
    assert residual > 0.3


@pytest.fixture(scope="module")
def kinect(ntu_dir):
    from cocodiff.data.readers.ntu import read_ntu_skeleton

    return read_ntu_skeleton(ntu_dir / "skeleton" / f"{TAKE}.skeleton")["keypoint"][0]


@pytest.mark.slow
def test_mediapipe_mapped_to_ntu25_matches_the_kinect(ntu_dir, kinect, pose_model_file):
    video = ntu_dir / "video" / f"{TAKE}_rgb.avi"
    proper = alignment_error(mediapipe_as_ntu25(video, pose_model_file, flip=True), kinect)
    assert proper.frames == 103  # a person in every frame of both
    assert proper.mean_mm <= BOUND_MM
    by_joint = dict(zip(proper.joints, proper.per_joint_mm))
    assert by_joint["spine_shoulder"] < 60 and by_joint["neck"] < 60  # the trunk is close
    assert max(by_joint, key=by_joint.get) in ("left_hand_tip", "left_hand", "right_hand_tip", "left_thumb")

    mirrored = alignment_error(mediapipe_as_ntu25(video, pose_model_file, flip=True, mirrored_mapping=True), kinect)
    assert mirrored.mean_mm > 1.5 * BOUND_MM  # left and right swapped: no rotation fixes that
    unflipped = alignment_error(mediapipe_as_ntu25(video, pose_model_file, flip=False), kinect)
    assert unflipped.mean_mm > BOUND_MM  # NTU's videos are mirror images of the Kinect's view
