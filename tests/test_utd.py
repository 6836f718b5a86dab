"""UTD-MHAD's skeleton files: every one of the 861 reads, in kinect20 order, upright."""

from __future__ import annotations

import numpy as np
import pytest

from cocodiff.data.layouts import KINECT20
from cocodiff.data.readers.utd import CLASSES, parse_utd_name, read_utd_mat
from cocodiff.errors import DataError


@pytest.fixture(scope="module")
def utd_dir(shared_data):
    folder = shared_data / "utd_mhad"
    if not folder.is_dir():
        pytest.skip(f"UTD-MHAD not found at {folder}")
    return folder


def test_all_861_files_read_upright_with_the_head_on_top(utd_dir):
    files = sorted(utd_dir.glob("*_skeleton.mat"))
    assert len(files) == 861
    head, hips = KINECT20.index("head"), KINECT20.index("hip_center")
    labels = set()
    for path in files:
        sample = read_utd_mat(path)
        keypoint = sample["keypoint"]
        assert keypoint.shape[0] == 1 and keypoint.shape[2:] == (20, 3) and keypoint.dtype == np.float32
        assert np.median(keypoint[0, :, head, 1] - keypoint[0, :, hips, 1]) > 0.3, path.name  # +y up, metres
        assert np.median(keypoint[0, :, hips, 2]) > 1.0, path.name  # +z away from the camera
        labels.add(sample["label"])
    assert labels == set(range(len(CLASSES))) and len(CLASSES) == 27


def test_right_arm_actions_move_the_right_hand(utd_dir):
    sample = read_utd_mat(utd_dir / "a3_s1_t1_skeleton.mat")  # right hand wave
    hands = sample["keypoint"][0][:, [KINECT20.index("right_hand"), KINECT20.index("left_hand")]]
    travel = np.linalg.norm(np.diff(hands, axis=0), axis=-1).sum(axis=0)
    assert travel[0] > 2 * travel[1]
    assert CLASSES[sample["label"]] == "right hand wave"


def test_bad_files(tmp_path):
    with pytest.raises(DataError, match="does not follow the UTD-MHAD pattern"):
        parse_utd_name(tmp_path / "wave.mat")
    with pytest.raises(DataError, match="action a28"):
        parse_utd_name(tmp_path / "a28_s1_t1_skeleton.mat")
    (tmp_path / "a1_s1_t1_skeleton.mat").write_text("not matlab")
    with pytest.raises(DataError, match="not a MATLAB 5 .mat file"):
        read_utd_mat(tmp_path / "a1_s1_t1_skeleton.mat")
    import scipy.io

    scipy.io.savemat(tmp_path / "a2_s1_t1_skeleton.mat", {"d_skel": np.zeros((25, 3, 4))})
    with pytest.raises(DataError, match=r"expected d_skel of shape \(20, 3, T\)"):
        read_utd_mat(tmp_path / "a2_s1_t1_skeleton.mat")
