"""Layout retargeting: tables as data, presence and confidence rules, round trips, and the
handedness of real bodies kept (a left/right swap is caught)."""

from __future__ import annotations

import glob

import numpy as np
import pytest

from cocodiff.data.frames import KINECT, MEDIAPIPE_WORLD
from cocodiff.data.layouts import LAYOUTS, get_layout
from cocodiff.data.pipelines import InferencePipeline, SkeletonSource, adapt_to
from cocodiff.data.retarget import TABLES, Retargeting, compile_table, retarget, retargeting
from cocodiff.data.transforms import pre_normalize
from cocodiff.errors import CocodiffError
from tiny_runs import contract_for


def side(name: str) -> str | None:
    return next((s for s in ("left", "right") if name.startswith(s + "_")), None)


@pytest.mark.parametrize("pair", sorted(TABLES), ids=lambda pair: f"{pair[0]}-{pair[1]}")
def test_every_table_covers_its_target_with_weights_summing_to_one(pair):
    source, target = map(get_layout, pair)
    weights = compile_table(source, target, TABLES[pair])
    assert weights.shape == (target.num_joints, source.num_joints)
    assert np.allclose(weights.sum(axis=1), 1.0)


@pytest.mark.parametrize("pair", sorted(TABLES), ids=lambda pair: f"{pair[0]}-{pair[1]}")
def test_no_rule_takes_a_joint_from_the_other_side(pair):
    for target, rule in TABLES[pair].items():
        sides = {side(name) for name in rule} - {None}
        assert sides <= ({side(target)} if side(target) else {"left", "right"}), (target, rule)
        if side(target) is None and sides:  # a centre joint from sided ones takes both sides equally
            left = sum(w for n, w in rule.items() if side(n) == "left")
            right = sum(w for n, w in rule.items() if side(n) == "right")
            assert left == pytest.approx(right), (target, rule)


def test_exact_subsets_and_round_trips():
    rng = np.random.default_rng(0)
    coco = rng.uniform(0.1, 0.9, size=(2, 5, 17, 2)).astype(np.float32)
    there = retarget({"keypoint": coco}, "coco17", "openpose18")
    neck = get_layout("openpose18").index("neck")
    shoulders = [get_layout("coco17").index(n) for n in ("left_shoulder", "right_shoulder")]
    assert np.allclose(there["keypoint"][:, :, neck], coco[:, :, shoulders].mean(axis=2))
    back = retarget(there, "openpose18", "coco17")
    assert np.array_equal(back["keypoint"], coco)
    mediapipe = rng.normal(size=(1, 3, 33, 3)).astype(np.float32)
    subset = retarget({"keypoint": mediapipe}, "mediapipe33", "coco17")["keypoint"]
    for index, name in enumerate(get_layout("coco17").joints):
        assert np.array_equal(subset[:, :, index], mediapipe[:, :, get_layout("mediapipe33").index(name)])


def test_presence_and_confidence_follow_the_sources():
    coco = np.ones((1, 1, 17, 2), dtype=np.float32)
    score = np.linspace(0.2, 1.0, 17, dtype=np.float32).reshape(1, 1, 17)
    left = get_layout("coco17").index("left_shoulder")
    coco[0, 0, left] = 0.0  # absent
    out = retarget({"keypoint": coco, "keypoint_score": score}, "coco17", "openpose18")
    layout = get_layout("openpose18")
    assert not out["keypoint"][0, 0, layout.index("neck")].any()  # needs both shoulders
    assert out["keypoint_score"][0, 0, layout.index("neck")] == 0.0
    right = get_layout("coco17").index("right_shoulder")
    assert out["keypoint_score"][0, 0, layout.index("right_shoulder")] == score[0, 0, right]
    # with both shoulders present, the neck's confidence is the lower of the two
    coco[0, 0, left] = 1.0
    out = retarget({"keypoint": coco, "keypoint_score": score}, "coco17", "openpose18")
    assert out["keypoint_score"][0, 0, layout.index("neck")] == pytest.approx(min(score[0, 0, left], score[0, 0, right]))


def test_chained_tables_and_unknown_pairs():
    mapping = retargeting("mediapipe33", "kinect20")
    assert len(mapping.steps) == 2  # through ntu25
    with pytest.raises(CocodiffError, match="no retargeting from layout 'coco17' to 'ntu25'"):
        retargeting("coco17", "ntu25")
    with pytest.raises(CocodiffError, match="clip has 20 joints, but layout 'ntu25' has 25"):
        retarget({"keypoint": np.ones((1, 2, 20, 3), np.float32)}, "ntu25", "kinect20")


# ---- real bodies ----------------------------------------------------------------------------------
def handedness(keypoint: np.ndarray, layout_name: str) -> float:
    """The median over frames of sign det[subject's right, up the spine, forward along the feet]:
    invariant under rotation, flipped by a mirror or a left/right swap."""
    layout = get_layout(layout_name)
    j = layout.index
    names = {"kinect20": ("hip_center", "shoulder_center"), "ntu25": ("spine_base", "spine_shoulder")}[layout_name]
    pose = keypoint[0]
    right = pose[:, j("right_shoulder")] - pose[:, j("left_shoulder")]
    up = pose[:, j(names[1])] - pose[:, j(names[0])]
    forward = (pose[:, j("left_foot")] - pose[:, j("left_ankle")] + pose[:, j("right_foot")]
               - pose[:, j("right_ankle")])
    return float(np.median(np.sign(np.linalg.det(np.stack([right, up, forward], axis=1)))))


def assert_same_handedness(source: np.ndarray, source_layout: str, target: np.ndarray, target_layout: str):
    before, after = handedness(source, source_layout), handedness(target, target_layout)
    assert abs(before) == 1.0 and before == after, f"handedness {before} became {after}"


@pytest.fixture(scope="module")
def ucla_clips(ucla_dir):
    from cocodiff.data.readers.ucla import read_ucla_json

    files = sorted(glob.glob(str(ucla_dir / "*.json")))
    return [read_ucla_json(path) for path in files[::150]]  # 10 clips: every action, all three views


@pytest.fixture(scope="module")
def utd_clips(shared_data):
    from cocodiff.data.readers.utd import read_utd_mat

    files = sorted(glob.glob(str(shared_data / "utd_mhad" / "*_skeleton.mat")))
    if not files:
        pytest.skip("UTD-MHAD not found in the shared data")
    return [read_utd_mat(path) for path in files[::90]]


def test_real_kinect_v1_bodies_keep_their_handedness(ucla_clips, utd_clips):
    for sample in ucla_clips + utd_clips:
        out = retarget(sample, "kinect20", "ntu25")
        assert_same_handedness(sample["keypoint"], "kinect20", out["keypoint"], "ntu25")
        assert np.array_equal(retarget(out, "ntu25", "kinect20")["keypoint"], sample["keypoint"])  # round trip


def test_a_table_that_swaps_left_and_right_fails_the_check(ucla_clips):
    source, target = get_layout("kinect20"), get_layout("ntu25")
    swapped = {}
    for name, rule in TABLES["kinect20", "ntu25"].items():
        twin = name.replace("left_", "@").replace("right_", "left_").replace("@", "right_")
        swapped[twin] = rule
    mirror = Retargeting(source, target, (compile_table(source, target, swapped),))
    sample = ucla_clips[0]
    wrong = mirror.apply(sample["keypoint"])[0]
    with pytest.raises(AssertionError, match="handedness"):
        assert_same_handedness(sample["keypoint"], "kinect20", wrong, "ntu25")


def unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)


def test_retargeted_ucla_clips_pre_normalise_upright_with_level_shoulders(ucla_clips):
    """Spine up +y; shoulders along +x, square to the camera (no depth), tilted against the spine
    only as much as the recorded body is (Kinect v1 often has them 10-40 degrees off square)."""
    ntu, kinect = get_layout("ntu25"), get_layout("kinect20")
    for sample in ucla_clips:
        raw = sample["keypoint"][0, 0]
        tilt = unit(raw[kinect.index("right_shoulder")] - raw[kinect.index("left_shoulder")]) @ \
            unit(raw[kinect.index("shoulder_center")] - raw[kinect.index("hip_center")])
        pose = pre_normalize(retarget(sample, "kinect20", "ntu25"), ntu)["keypoint"][0]
        spine = unit(pose[:, ntu.index("spine_shoulder")] - pose[:, ntu.index("spine_base")])
        across = unit(pose[:, ntu.index("right_shoulder")] - pose[:, ntu.index("left_shoulder")])
        assert spine[0, 1] > 0.9999 and np.median(spine[:, 1]) > 0.7, sample["frame_dir"]  # up +y (sit, stand up: bent)
        assert across[0, 0] > 0 and abs(across[0, 2]) < 1e-4, sample["frame_dir"]  # along +x, no depth
        assert across[0, 1] == pytest.approx(tilt, abs=1e-4), sample["frame_dir"]  # the body's own tilt, no more


def test_kinect_bones_survive_the_trip_to_ntu25(ucla_clips):
    sample = ucla_clips[3]
    out = retarget(sample, "kinect20", "ntu25")["keypoint"][0]
    k, n = get_layout("kinect20"), get_layout("ntu25")
    for child, parent in (("left_elbow", "left_shoulder"), ("right_wrist", "right_elbow"), ("left_knee", "left_hip")):
        expected = sample["keypoint"][0][:, k.index(child)] - sample["keypoint"][0][:, k.index(parent)]
        assert np.allclose(out[:, n.index(child)] - out[:, n.index(parent)], expected)
    neck_on_spine = out[:, n.index("neck")] - out[:, n.index("spine_shoulder")]
    head_on_spine = out[:, n.index("head")] - out[:, n.index("spine_shoulder")]
    assert np.allclose(neck_on_spine, 0.35 * head_on_spine, atol=1e-6)


def mediapipe_world_person() -> np.ndarray:
    """A person facing the camera, arms down, as MediaPipe's world landmarks give one: metres,
    x to the image's right (so the subject's left side has x > 0), y down, z away from the camera,
    the origin exactly midway between the hips."""
    layout = get_layout("mediapipe33")
    points = {"nose": (0.0, -0.62, -0.09), "left_ear": (0.07, -0.64, 0.02), "right_ear": (-0.07, -0.64, 0.02),
              "left_shoulder": (0.18, -0.5, 0.0), "left_elbow": (0.22, -0.24, 0.0), "left_wrist": (0.24, 0.0, 0.0),
              "left_index": (0.25, 0.08, -0.02), "left_pinky": (0.24, 0.07, 0.01), "left_thumb": (0.24, 0.05, -0.03),
              "left_hip": (0.1, 0.0, 0.0), "left_knee": (0.1, 0.45, 0.0), "left_ankle": (0.1, 0.85, 0.0),
              "left_heel": (0.1, 0.88, 0.05), "left_foot_index": (0.1, 0.9, -0.12)}
    pose = np.zeros((33, 3), np.float32)
    for name, (x, y, z) in points.items():
        pose[layout.index(name)] = (x, y, z)
        if name.startswith("left_"):
            pose[layout.index("right_" + name[5:])] = (-x, y, z)
    for name in ("left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye", "right_eye_outer",
                 "left_mouth", "right_mouth"):
        pose[layout.index(name)] = pose[layout.index("nose")] + (0.03 if "left" in name else -0.03, -0.02, 0.0)
    return pose


def test_a_mediapipe_world_body_arrives_whole_upright_and_unmirrored():
    """MediaPipe's hip-centred world landmarks into an ntu25 Kinect model: spine_base (the hip
    midpoint, exactly MediaPipe's origin) is present, the body stands 3 m in front of the camera,
    with its handedness that of a real Kinect body, and pre-normalises upright and square."""
    world = mediapipe_world_person()[None, None]  # (M, T, V, C)
    out = adapt_to({"keypoint": world}, SkeletonSource("mediapipe33", MEDIAPIPE_WORLD), "ntu25", KINECT)["keypoint"]
    ntu = get_layout("ntu25")
    pose = out[0, 0]
    assert (np.abs(pose).sum(axis=-1) > 0).all()  # every joint present, spine_base included
    assert np.allclose(pose[ntu.index("spine_base")], [0.0, 0.0, 3.0])
    assert pose[ntu.index("left_shoulder"), 0] < 0 < pose[ntu.index("right_shoulder"), 0]  # Kinect +x: camera's left
    assert pose[ntu.index("head"), 1] > pose[ntu.index("neck"), 1] > pose[ntu.index("spine_shoulder"), 1] > 0
    assert pose[ntu.index("left_foot"), 2] < pose[ntu.index("left_ankle"), 2]  # toes toward the camera
    assert handedness(out, "ntu25") == -1.0  # as every real Kinect body in these tests
    upright = pre_normalize({"keypoint": out}, ntu)["keypoint"][0, 0]
    spine = unit(upright[ntu.index("spine_shoulder")] - upright[ntu.index("spine_base")])
    across = unit(upright[ntu.index("right_shoulder")] - upright[ntu.index("left_shoulder")])
    assert np.allclose(spine, [0, 1, 0], atol=1e-6) and np.allclose(across, [1, 0, 0], atol=1e-6)
    contract = contract_for(["a"])
    assert InferencePipeline(contract, SkeletonSource("mediapipe33", MEDIAPIPE_WORLD))({"keypoint": world}).shape == \
        (1, 16, 25, 3)


def test_real_kinect_bodies_have_the_handedness_the_mediapipe_test_expects(ucla_clips):
    assert {handedness(sample["keypoint"], "kinect20") for sample in ucla_clips} == {-1.0}


def test_every_layout_pair_with_a_path_runs():
    for source in LAYOUTS:
        for target in LAYOUTS:
            try:
                mapping = retargeting(source, target)
            except CocodiffError:
                continue
            coordinates = 2 if "coco17" in (source, target) or "openpose18" in (source, target) else 3
            points = np.ones((1, 2, get_layout(source).num_joints, coordinates), np.float32)
            assert mapping.apply(points)[0].shape == (1, 2, get_layout(target).num_joints, coordinates)
