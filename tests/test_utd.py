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


def test_prepare_utd_writes_the_cross_subject_splits(utd_dir, tmp_path, capsys):
    from cocodiff.data.annotations import load_annotations
    from cocodiff.data.prepare import main

    assert main(["utd", str(utd_dir), "--out", str(tmp_path / "utd.pkl")]) == 0
    assert "converted 861, skipped 0, failed 0" in capsys.readouterr().err
    content = load_annotations(tmp_path / "utd.pkl")
    split, meta = content["split"], content["meta"]
    assert (len(split["xsub_train"]), len(split["xsub_val"]), len(split["all"])) == (431, 430, 861)
    subjects = {name: {parse_utd_name(n)[1] for n in split[name]} for name in ("xsub_train", "xsub_val")}
    assert subjects == {"xsub_train": {1, 3, 5, 7}, "xsub_val": {2, 4, 6, 8}}
    assert meta["layout"] == "kinect20" and meta["classes"] == list(CLASSES) and meta["fps"] == 30.0
    assert meta["joint_order"] == "file" and meta["frame"]["origin"] == "camera"
    assert split["all"][:2] == ["a1_s1_t1_skeleton", "a1_s1_t2_skeleton"]  # numeric order: a2 before a10
    assert split["all"].index("a2_s1_t1_skeleton") < split["all"].index("a10_s1_t1_skeleton")


def test_joint_order_comes_from_the_release_file(utd_dir, tmp_path):
    from cocodiff.data.readers.utd import UTD_JOINTS, read_joint_order

    assert read_joint_order(utd_dir / "Skeleton_joint_order.txt") == UTD_JOINTS
    # A file listing the joints in another order reorders the rows accordingly.
    swapped = list(UTD_JOINTS)
    swapped[0], swapped[3] = swapped[3], swapped[0]
    order = tmp_path / "Skeleton_joint_order.txt"
    order.write_text("".join(f"{i + 1}. {name};\n" for i, name in enumerate(swapped)))
    path = utd_dir / "a3_s1_t1_skeleton.mat"
    plain, reordered = read_utd_mat(path), read_utd_mat(path, read_joint_order(order))
    head, hips = KINECT20.index("head"), KINECT20.index("hip_center")
    np.testing.assert_array_equal(reordered["keypoint"][..., head, :], plain["keypoint"][..., hips, :])
    order.write_text("1. head;\n2. neck;\n")
    with pytest.raises(DataError, match="expected the 20 Kinect v1 joints numbered 1 to 20, found 2"):
        read_joint_order(order)


def test_bad_mat_contents(tmp_path):
    import scipy.io

    scipy.io.savemat(tmp_path / "a1_s1_t1_skeleton.mat", {"d_skel": np.zeros((20, 3, 0))})
    with pytest.raises(DataError, match="zero frames"):
        read_utd_mat(tmp_path / "a1_s1_t1_skeleton.mat")
    bad = np.ones((20, 3, 4))
    bad[2, 1, 3] = np.nan
    scipy.io.savemat(tmp_path / "a1_s1_t2_skeleton.mat", {"d_skel": bad})
    with pytest.raises(DataError, match="NaN or infinite coordinate at joint 3, frame 4"):
        read_utd_mat(tmp_path / "a1_s1_t2_skeleton.mat")


def test_prepare_summary_counts_classes_without_samples():
    from cocodiff.data.prepare import describe

    content = {"split": {"all": ["a", "b"]}, "meta": {"layout": "kinect20", "classes": ["x", "y", "z"]},
               "annotations": [{"label": 0}, {"label": 0}]}
    text = describe(content)
    assert "samples per class: min 0, max 2" in text and "classes with no sample: 2 (y, z)" in text


def test_the_shipped_class_map_names_real_classes_on_both_sides():
    from pathlib import Path

    from cocodiff.data.class_map import read_class_map
    from cocodiff.data.embedded import CLASSES as EMBEDDED

    class_map = read_class_map(Path(__file__).parents[1] / "configs" / "class_maps" / "utd_mhad_to_embedded.txt")
    class_map.check(CLASSES, EMBEDDED)
    assert len(class_map.pairs) == 12 and {model for _, model in class_map.pairs} >= {"wave right hand", "squat"}
