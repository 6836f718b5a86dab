import copy
import json
import pickle
from functools import partial

import numpy as np
import pytest

from cocodiff.data.layouts import LAYOUTS, Layout, get_layout
from cocodiff.data.transforms import (
    MODALITIES,
    center_crop_resize,
    compose,
    frame_mask,
    joint_present,
    pad_persons,
    pre_normalize,
    random_crop_resize,
    random_rotate,
    resample,
    rotate,
    rotation_about,
    rotation_between,
    rotation_xyz,
    to_bone,
    to_modality,
    to_motion,
    valid_frames,
    valid_range,
)
from cocodiff.errors import CocodiffError

KINECT20 = get_layout("kinect20")

# A Kinect v1 subject standing upright and facing the camera, in the camera frame (+y up, +z away
# from the camera, +x to the camera's left): the right shoulder is at +x. Its spine (hip_center
# -> shoulder_center) is exactly +y and its shoulders exactly along x, so pre-normalisation only
# has to move the origin joint ("spine", index 1) to zero.
STANDING = np.array(
    [
        [0.0, 0.0, 0.0], [0.0, 0.3, 0.0], [0.0, 0.6, 0.0], [0.0, 0.8, -0.02],  # hip c., spine, shoulder c., head
        [-0.2, 0.55, 0.0], [-0.25, 0.3, 0.0], [-0.27, 0.1, -0.05], [-0.28, 0.0, -0.07],  # left arm
        [0.2, 0.55, 0.0], [0.25, 0.3, -0.05], [0.27, 0.1, -0.1], [0.28, 0.0, -0.12],  # right arm
        [-0.1, -0.05, 0.0], [-0.1, -0.45, 0.02], [-0.1, -0.85, 0.0], [-0.1, -0.9, -0.1],  # left leg
        [0.1, -0.05, 0.0], [0.1, -0.45, 0.02], [0.1, -0.85, 0.0], [0.1, -0.9, -0.1],  # right leg
    ]
) + [0.0, 1.0, 0.0]  # no joint exactly at zero, which would read as absent


def standing_clip() -> np.ndarray:
    """(2, 6, 20, 3), canonical but not centred: person 0 waves its right hand in frames 0-3;
    person 1 (a copy beside it) is there in frames 1-2 only; frames 4-5 are padding."""
    clip = np.zeros((2, 6, 20, 3))
    for t in range(4):
        clip[0, t] = STANDING
        clip[0, t, 10:12] += [0.05 * t, 0.2 * t, 0.0]
    clip[1, 1:3] = STANDING + [1.0, 0.0, 0.5]
    return clip


def centred(clip: np.ndarray) -> np.ndarray:
    """What `pre_normalize` should make of a canonical clip: person 0's origin joint in frame 0
    moved to zero, absent joints left at zero."""
    present = np.any(clip != 0, axis=-1, keepdims=True)
    return np.where(present, clip - clip[0, 0, 1], 0.0)


def pose_in_camera(clip: np.ndarray, matrix: np.ndarray, shift) -> np.ndarray:
    present = np.any(clip != 0, axis=-1, keepdims=True)
    return np.where(present, clip @ matrix.T + shift, 0.0).astype(np.float32)


def sample_of(keypoint, score=None, **extra):
    sample = {"keypoint": np.asarray(keypoint, dtype=np.float32), "label": 0, "frame_dir": "x",
              "total_frames": np.shape(keypoint)[1]}
    if score is not None:
        sample["keypoint_score"] = np.asarray(score, dtype=np.float32)
    sample.update(extra)
    return sample


def ramp(frames, valid=None, persons=1, joints=3, channels=3):
    """keypoint[..., t, :, :] = t + 1 for the first `valid` frames, zero padding after."""
    valid = frames if valid is None else valid
    keypoint = np.zeros((persons, frames, joints, channels), dtype=np.float32)
    keypoint[:, :valid] = (np.arange(valid, dtype=np.float32) + 1)[None, :, None, None]
    return sample_of(keypoint)


# ---------------------------------------------------------------- presence


def test_valid_frames_ignore_padding_but_keep_inner_gaps():
    keypoint = np.zeros((2, 8, 3, 2), dtype=np.float32)
    keypoint[0, 1:3] = 1.0
    keypoint[1, 5, 2] = [0.0, 4.0]  # one joint of the second person is enough
    assert frame_mask(keypoint).tolist() == [False, True, True, False, False, True, False, False]
    assert valid_range(keypoint) == (1, 6)
    assert valid_frames(keypoint) == 5
    assert valid_frames(np.zeros((1, 4, 3, 3))) == 0 and valid_range(np.zeros((1, 4, 3, 3))) == (0, 0)
    assert valid_frames(np.ones((1, 1, 3, 3))) == 1


def test_pad_persons():
    keypoint = np.ones((2, 4, 3, 3), dtype=np.float32)
    keypoint[1] = 2.0
    sample = sample_of(keypoint, score=np.ones((2, 4, 3)))
    padded = pad_persons(sample, 3)
    assert padded["keypoint"].shape == (3, 4, 3, 3) and padded["keypoint_score"].shape == (3, 4, 3)
    assert (padded["keypoint"][2] == 0).all() and (padded["keypoint_score"][2] == 0).all()
    first = pad_persons(sample, 1)
    assert first["keypoint"].shape == (1, 4, 3, 3) and (first["keypoint"] == 1.0).all()
    with pytest.raises(CocodiffError):
        pad_persons(sample, 0)


# ---------------------------------------------------------------- pre-normalisation


@pytest.mark.parametrize(
    "matrix",
    [
        np.eye(3),  # already canonical: only translated
        rotation_xyz(0.0, 0.0, np.pi / 2),  # lying on its side, spine along -x
        rotation_xyz(0.0, 0.0, -np.pi / 2) @ rotation_xyz(np.pi / 2, 0.0, 0.0),  # lying, facing up
        rotation_xyz(0.0, np.pi, 0.0),  # back to the camera: must be turned around
        rotation_xyz(np.pi, 0.0, 0.0),  # upside down (spine exactly opposite to +y)
        rotation_xyz(0.4, -1.1, 2.5),
    ],
    ids=["facing", "on_side", "lying_face_up", "back_turned", "upside_down", "oblique"],
)
def test_pre_normalize_3d_recovers_the_standing_subject(matrix):
    clip = standing_clip()
    expected = centred(clip)
    raw = pose_in_camera(clip, matrix, shift=[0.3, -0.2, 3.1])
    result = pre_normalize(sample_of(raw), KINECT20)["keypoint"]
    np.testing.assert_allclose(result, expected, atol=1e-5)
    assert (result[1, [0, 3, 4, 5]] == 0).all() and (result[:, 4:] == 0).all(), "absent stays exactly 0"
    spine = result[0, 0, 2] - result[0, 0, 0]
    across = result[0, 0, 8] - result[0, 0, 4]  # left -> right shoulder
    assert spine[1] / np.linalg.norm(spine) == pytest.approx(1.0, abs=1e-6)
    assert across[0] / np.linalg.norm(across) == pytest.approx(1.0, abs=1e-6)


def test_pre_normalize_2d_stands_the_subject_up_in_image_coordinates():
    standing = STANDING[:, :2] * [100.0, -100.0]  # image y grows downwards
    on_side = standing @ np.array([[0.0, -1.0], [1.0, 0.0]]).T + [320.0, 240.0]
    keypoint = np.zeros((2, 3, 20, 2), dtype=np.float32)
    keypoint[0, :2] = on_side
    keypoint[0, 1, 7] = 0.0  # a missed joint (score 0) stays missed
    result = pre_normalize(sample_of(keypoint), KINECT20)["keypoint"]
    expected = standing - standing[1]
    np.testing.assert_allclose(result[0, 0], expected, atol=1e-3)
    spine = result[0, 0, 2] - result[0, 0, 0]
    np.testing.assert_allclose(spine / np.linalg.norm(spine), [0.0, -1.0], atol=1e-6)
    assert (result[0, 1, 7] == 0).all() and (result[1] == 0).all() and (result[0, 2] == 0).all()
    custom = pre_normalize(sample_of(keypoint), KINECT20, up=(0.0, 1.0))["keypoint"]
    assert custom[0, 0, 2, 1] > custom[0, 0, 0, 1]


def test_pre_normalize_centres_a_shifted_clip_on_the_first_valid_frame():
    clip = standing_clip()
    keypoint = pose_in_camera(clip, rotation_xyz(0.3, 0.2, 0.1), shift=[5.0, -7.0, 2.0])
    keypoint = np.concatenate([np.zeros_like(keypoint[:, :2]), keypoint], axis=1)  # leading empty frames
    result = pre_normalize(sample_of(keypoint), KINECT20, align_spine=False, align_shoulders=False)["keypoint"]
    np.testing.assert_allclose(result[:, 2:], centred(keypoint[:, 2:]), atol=1e-5)
    assert (result[0, 2, 1] == 0).all()  # the origin joint of the reference frame
    assert (result[:, :2] == 0).all()


def test_pre_normalize_uses_the_first_frame_and_only_the_first_present_person():
    keypoint = np.zeros((2, 2, 20, 3))
    keypoint[1, 0] = STANDING @ rotation_xyz(0.0, 0.0, 1.0).T  # slot 0 is empty: slot 1 is the reference
    keypoint[1, 1] = STANDING @ rotation_xyz(0.5, 0.0, 0.0).T  # later frames bend: not measured
    result = pre_normalize(sample_of(keypoint), KINECT20)["keypoint"]
    np.testing.assert_allclose(result[1, 0], STANDING - STANDING[1], atol=1e-5)
    assert (result[0] == 0).all()


def test_pre_normalize_degenerate_bodies_do_not_make_nan():
    flat = np.zeros((1, 2, 20, 3))
    flat[0, :] = [1.0, 2.0, 3.0]  # every joint at one point: no spine, no shoulders
    result = pre_normalize(sample_of(flat), KINECT20)["keypoint"]
    assert np.isfinite(result).all() and (result == 0).all()

    no_shoulders = np.tile(STANDING @ rotation_xyz(0.0, 0.0, 0.7).T, (1, 1, 1, 1))
    no_shoulders[0, 0, 8] = no_shoulders[0, 0, 4]  # shoulders coincide: spine rotation only
    result = pre_normalize(sample_of(no_shoulders), KINECT20)["keypoint"]
    spine = result[0, 0, 2] - result[0, 0, 0]
    assert np.isfinite(result).all() and spine[1] / np.linalg.norm(spine) == pytest.approx(1.0)

    missing = np.tile(STANDING + [0.0, 0.0, 2.0], (1, 1, 1, 1))
    missing[0, 0, [0, 2, 4, 8]] = 0.0  # spine and shoulder joints never seen: translation only
    result = pre_normalize(sample_of(missing), KINECT20)["keypoint"]
    np.testing.assert_allclose(result[0, 0, 3], STANDING[3] - STANDING[1], atol=1e-6)

    nobody = pre_normalize(sample_of(np.zeros((2, 3, 20, 3))), KINECT20)["keypoint"]
    assert (nobody == 0).all()


def test_pre_normalize_rejects_bad_arguments():
    sample = sample_of(standing_clip())
    with pytest.raises(CocodiffError, match="up"):
        pre_normalize(sample, KINECT20, up=(0.0, 0.0))
    with pytest.raises(CocodiffError, match="parallel"):
        pre_normalize(sample, KINECT20, right=(0.0, 2.0, 0.0))
    with pytest.raises(CocodiffError, match="layout 'ntu25' has 25"):
        pre_normalize(sample, get_layout("ntu25"))
    with pytest.raises(CocodiffError, match="3D"):
        pre_normalize(sample_of(np.ones((1, 2, 20, 2))), KINECT20, right=(1.0, 0.0))


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_pre_normalize_is_view_invariant_for_every_layout(name):
    layout = LAYOUTS[name]
    rng = np.random.default_rng(3)
    clip = rng.normal(size=(2, 5, layout.num_joints, 3))
    clip[1, 3:] = 0.0
    matrix = rotation_xyz(*rng.uniform(-np.pi, np.pi, size=3))
    base = pre_normalize(sample_of(clip), layout)["keypoint"]
    turned = pre_normalize(sample_of(pose_in_camera(clip, matrix, [1.0, 2.0, 3.0])), layout)["keypoint"]
    np.testing.assert_allclose(turned, base, atol=1e-4)
    first = base[0, 0].astype(np.float64)
    spine = first[list(layout.spine[1])].mean(0) - first[list(layout.spine[0])].mean(0)
    across = first[list(layout.shoulders[0])].mean(0) - first[list(layout.shoulders[1])].mean(0)
    across[1] = 0.0
    assert spine[1] / np.linalg.norm(spine) == pytest.approx(1.0, abs=1e-5)
    assert across[0] / np.linalg.norm(across) == pytest.approx(1.0, abs=1e-5)
    assert np.abs(first[list(layout.origin)].mean(0)).max() < 1e-5


def test_pre_normalize_real_nw_ucla_spine_is_vertical(ucla_dir):
    names = ["a01_s01_e00_v01", "a01_s01_e00_v03", "a06_s07_e02_v03", "a08_s04_e03_v02", "a04_s01_e01_v01"]
    for name in names:
        with open(ucla_dir / f"{name}.json") as handle:
            record = json.load(handle)
        keypoint = np.asarray(record["skeletons"], dtype=np.float32)[None]
        result = pre_normalize(sample_of(keypoint), KINECT20)["keypoint"][0]
        assert np.isfinite(result).all()
        missing = (keypoint[0] == 0).all(-1)
        missing[0, KINECT20.origin[0]] = True  # the origin joint of frame 0 is now exactly at 0
        assert ((result == 0).all(-1) == missing).all(), name  # missing joints stay missing
        spine = result[:, 2] - result[:, 0]  # hip_center -> shoulder_center
        across = result[:, 8] - result[:, 4]  # left -> right shoulder
        tracked = ~missing[:, [0, 2]].any(axis=1)  # frames where both spine ends were tracked
        cosine = spine[tracked, 1] / np.linalg.norm(spine[tracked], axis=1)
        assert tracked[0] and cosine[0] > 0.99, name
        assert across[0, 0] / np.linalg.norm(across[0, [0, 2]]) > 0.99, name
        assert cosine.mean() > 0.5, f"{name}: the subject should stay upright-ish (some bend down)"
        both = ~missing[:, 2] & ~missing[:, 3]  # rigid: the neck keeps its length
        np.testing.assert_allclose(np.linalg.norm(result[both, 3] - result[both, 2], axis=1),
                                   np.linalg.norm(keypoint[0, both, 3] - keypoint[0, both, 2], axis=1), atol=1e-5)


# ---------------------------------------------------------------- rotation


def test_rotation_helpers():
    for source, target in [([1, 0, 0], [0, 1, 0]), ([0, 1, 0], [0, -1, 0]), ([1, 2, 3], [-3, 1, 0.5])]:
        matrix = rotation_between(np.array(source, float), np.array(target, float))
        np.testing.assert_allclose(matrix @ matrix.T, np.eye(3), atol=1e-12)
        assert np.linalg.det(matrix) == pytest.approx(1.0)
        np.testing.assert_allclose(matrix @ source / np.linalg.norm(source), np.array(target) / np.linalg.norm(target), atol=1e-12)
    np.testing.assert_allclose(rotation_between(np.array([1.0, 0.0]), np.array([0.0, 1.0])) @ [1, 0], [0, 1], atol=1e-12)
    np.testing.assert_allclose(rotation_about(np.array([0, 1.0, 0]), np.pi / 2) @ [0, 0, 1], [1, 0, 0], atol=1e-12)
    with pytest.raises(CocodiffError):
        rotate(sample_of(np.ones((1, 1, 3, 3))), np.eye(2))


@pytest.mark.parametrize("channels", [2, 3])
def test_random_rotate_keeps_lengths_and_zeros(channels):
    rng = np.random.default_rng(0)
    keypoint = rng.normal(size=(2, 4, 17, channels)).astype(np.float32)
    keypoint[1, 2:] = 0.0
    keypoint[0, 1, 5] = 0.0
    sample = sample_of(keypoint)
    result = random_rotate(sample, np.random.default_rng(7), max_angle=0.3)["keypoint"]
    assert not np.allclose(result, keypoint)
    np.testing.assert_allclose(np.linalg.norm(result, axis=-1), np.linalg.norm(keypoint, axis=-1), atol=1e-5)
    distances = lambda k: np.linalg.norm(k[:, :, :, None] - k[:, :, None], axis=-1)  # noqa: E731
    np.testing.assert_allclose(distances(result)[0, 0], distances(keypoint)[0, 0], atol=1e-5)
    assert (result[1, 2:] == 0).all() and (result[0, 1, 5] == 0).all()
    again = random_rotate(sample, np.random.default_rng(7), max_angle=0.3)["keypoint"]
    np.testing.assert_array_equal(result, again)
    other = random_rotate(sample, np.random.default_rng(8), max_angle=0.3)["keypoint"]
    assert not np.allclose(result, other)
    np.testing.assert_allclose(random_rotate(sample, rng, max_angle=0.0)["keypoint"], keypoint, atol=1e-6)


def test_random_rotate_2d_stays_within_max_angle():
    sample = sample_of(np.array([[[[1.0, 0.0]]]]))
    for seed in range(20):
        x, y = random_rotate(sample, np.random.default_rng(seed), max_angle=0.3)["keypoint"][0, 0, 0]
        assert abs(np.arctan2(y, x)) <= 0.3 + 1e-6


# ---------------------------------------------------------------- time


def test_random_crop_resize_of_a_ramp_is_a_ramp():
    sample = ramp(frames=40, valid=30)
    full = random_crop_resize(sample, np.random.default_rng(0), window=12, min_ratio=1.0, max_ratio=1.0)
    np.testing.assert_allclose(full["keypoint"][0, :, 0, 0], np.linspace(1.0, 30.0, 12), atol=1e-5)
    assert full["keypoint"][0, 0, 0, 0] == 1.0 and full["keypoint"][0, -1, 0, 0] == 30.0  # exact ends
    assert full["total_frames"] == 12 and full["keypoint"].shape == (1, 12, 3, 3)
    for seed in range(10):
        values = random_crop_resize(sample, np.random.default_rng(seed), window=16)["keypoint"][0, :, 0, 0]
        first, last = values[0], values[-1]
        assert first == round(first) and last == round(last) and 1 <= first < last <= 30
        assert 15 <= last - first + 1 <= 30  # between half and all of the 30 valid frames
        np.testing.assert_allclose(values, np.linspace(first, last, 16), atol=1e-4)


def test_crop_resize_upsamples_short_clips_and_single_frames():
    short = center_crop_resize(ramp(frames=3), window=7, ratio=1.0)["keypoint"][0, :, 0, 0]
    np.testing.assert_allclose(short, np.linspace(1.0, 3.0, 7), atol=1e-6)
    single = random_crop_resize(ramp(frames=1), np.random.default_rng(0), window=5)["keypoint"]
    assert single.shape == (1, 5, 3, 3) and (single == 1.0).all()
    middle = center_crop_resize(ramp(frames=9), window=1, ratio=1.0)["keypoint"]
    assert middle.shape == (1, 1, 3, 3) and (middle == 5.0).all()


def test_center_crop_resize_takes_the_middle():
    values = center_crop_resize(ramp(frames=110, valid=100), window=50, ratio=0.5)["keypoint"][0, :, 0, 0]
    np.testing.assert_allclose(values, np.arange(26.0, 76.0), atol=1e-5)  # frames 25..74


def test_resample_never_blends_a_pose_with_absence():
    keypoint = np.zeros((2, 10, 3, 3), dtype=np.float32)
    keypoint[0] = 1.0
    keypoint[1, :5] = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]
    score = np.ones((2, 10, 3), dtype=np.float32)
    result = resample(sample_of(keypoint, score=score), np.linspace(0, 9, 23))
    second = result["keypoint"][1]
    for frame in second:
        assert (frame == 0).all() or np.array_equal(frame, keypoint[1, 0])
    assert result["keypoint_score"].shape == (2, 23, 3) and np.allclose(result["keypoint_score"], 1.0)


# ---------------------------------------------------------------- modalities

CHAIN = Layout(
    name="chain3", joints=("a", "b", "c"), parents=(-1, 0, 1),
    parts={"head": (0,), "left_arm": (), "right_arm": (), "torso": (1,), "left_leg": (), "right_leg": (2,)},
    origin=(0,), spine=((0,), (1,)), shoulders=((1,), (2,)),
)


def test_bone_of_a_three_joint_chain():
    keypoint = np.array([[[[1.0, 1.0, 1.0], [2.0, 3.0, 4.0], [4.0, 4.0, 4.0]],
                          [[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [4.0, 4.0, 4.0]]]], dtype=np.float32)
    bones = to_bone(sample_of(keypoint), CHAIN)["keypoint"]
    np.testing.assert_array_equal(bones[0, 0], [[0, 0, 0], [1, 2, 3], [2, 1, 0]])
    np.testing.assert_array_equal(bones[0, 1], np.zeros((3, 3)))  # the middle joint is missing


def test_motion_of_a_ramp_is_constant():
    keypoint = (np.arange(6, dtype=np.float32)[None, :, None, None] * [0.5, -1.0, 2.0]) + 1.0
    keypoint = np.broadcast_to(keypoint, (1, 6, 3, 3)).copy()
    motion = to_motion(sample_of(keypoint))["keypoint"]
    np.testing.assert_allclose(motion[0, :5], np.broadcast_to([0.5, -1.0, 2.0], (5, 3, 3)))
    assert (motion[0, 5] == 0).all()
    keypoint[0, 3] = 0.0  # an absent frame: no motion into or out of it
    motion = to_motion(sample_of(keypoint))["keypoint"]
    assert (motion[0, 2:4] == 0).all() and np.allclose(motion[0, 4], [0.5, -1.0, 2.0])


def test_to_modality():
    rng = np.random.default_rng(0)
    sample = sample_of(rng.normal(size=(2, 5, 20, 3)))
    np.testing.assert_array_equal(to_modality(sample, KINECT20, "joint")["keypoint"], sample["keypoint"])
    np.testing.assert_array_equal(to_modality(sample, KINECT20, "bone")["keypoint"], to_bone(sample, KINECT20)["keypoint"])
    np.testing.assert_array_equal(to_modality(sample, KINECT20, "joint_motion")["keypoint"], to_motion(sample)["keypoint"])
    np.testing.assert_array_equal(to_modality(sample, KINECT20, "bone_motion")["keypoint"],
                                  to_motion(to_bone(sample, KINECT20))["keypoint"])
    assert (to_bone(sample, KINECT20)["keypoint"][:, :, KINECT20.root] == 0).all()
    with pytest.raises(CocodiffError, match="joint, bone, joint_motion, bone_motion"):
        to_modality(sample, KINECT20, "velocity")


# ---------------------------------------------------------------- every transform, every layout


def every_transform(layout, rng):
    steps = {
        "pre_normalize": partial(pre_normalize, layout=layout),
        "random_rotate": partial(random_rotate, rng=rng),
        "random_crop_resize": partial(random_crop_resize, rng=rng, window=8),
        "center_crop_resize": partial(center_crop_resize, window=8),
        "pad_persons": partial(pad_persons, num_persons=3),
    }
    steps.update({name: partial(to_modality, layout=layout, name=name) for name in MODALITIES})
    return steps


@pytest.mark.parametrize("channels", [2, 3])
@pytest.mark.parametrize("name", sorted(LAYOUTS))
@pytest.mark.parametrize("persons,frames", [(1, 1), (2, 9)])
def test_every_transform_on_every_layout(name, channels, persons, frames):
    layout = LAYOUTS[name]
    rng = np.random.default_rng(1)
    keypoint = rng.normal(size=(persons, frames, layout.num_joints, channels)).astype(np.float32)
    keypoint[0, 0, 0] = 0.0  # one missing joint
    if persons > 1:
        keypoint[1] = 0.0  # an empty person slot
        keypoint[0, -2:] = 0.0  # trailing padding
    sample = sample_of(keypoint, score=rng.uniform(size=keypoint.shape[:3]), extra="kept")
    before = copy.deepcopy(sample)
    for label, step in every_transform(layout, rng).items():
        result = step(sample)
        out = result["keypoint"]
        assert result is not sample and out is not sample["keypoint"], label
        assert out.dtype == np.float32 and np.isfinite(out).all(), label
        assert out.ndim == 4 and out.shape[2:] == keypoint.shape[2:], label
        assert result["extra"] == "kept" and result["label"] == 0, label
        if result.get("keypoint_score") is not None:
            assert result["keypoint_score"].shape == out.shape[:3], label
        if persons > 1:
            assert (out[1] == 0).all(), f"{label} filled an empty person"
        for key in before:  # the input is untouched
            if isinstance(before[key], np.ndarray):
                np.testing.assert_array_equal(sample[key], before[key], err_msg=label)
            else:
                assert sample[key] == before[key], label
    assert sorted(sample) == sorted(before)


def seeded_pipeline(layout, seed):
    rng = np.random.default_rng(seed)
    return compose(
        partial(pre_normalize, layout=layout),
        partial(random_crop_resize, rng=rng, window=16),
        partial(random_rotate, rng=rng),
        partial(to_modality, layout=layout, name="bone"),
    )


def test_seeded_pipelines_are_deterministic():
    layout = get_layout("ntu25")
    sample = sample_of(np.random.default_rng(0).normal(size=(2, 30, 25, 3)))
    first, second = seeded_pipeline(layout, 5)(sample), seeded_pipeline(layout, 5)(sample)
    third = seeded_pipeline(layout, 6)(sample)
    np.testing.assert_array_equal(first["keypoint"], second["keypoint"])
    assert not np.allclose(first["keypoint"], third["keypoint"])
    assert first["keypoint"].shape == (2, 16, 25, 3)
    assert "random_rotate" in repr(seeded_pipeline(layout, 5))
    assert compose()(sample) is sample


def test_a_pipeline_pickles_with_its_generator_state():
    sample = sample_of(np.random.default_rng(0).normal(size=(1, 30, 25, 3)))
    pipeline = compose(partial(random_crop_resize, rng=np.random.default_rng(5), window=16),
                       partial(random_rotate, rng=np.random.default_rng(6)))
    copied = pickle.loads(pickle.dumps(pipeline))
    np.testing.assert_array_equal(copied(sample)["keypoint"], pipeline(sample)["keypoint"])


def test_a_pipeline_with_a_layout_pickles():
    """DataLoader workers receive pipelines by pickling; built-in layouts travel by name."""
    pipeline = seeded_pipeline(get_layout("ntu25"), 5)
    copy = pickle.loads(pickle.dumps(pipeline))  # the generator travels with its state
    sample = sample_of(np.random.default_rng(1).normal(size=(2, 20, 25, 3)).astype(np.float32))
    np.testing.assert_array_equal(copy(sample)["keypoint"], pipeline(sample)["keypoint"])
    assert pickle.loads(pickle.dumps(get_layout("coco17"))) is get_layout("coco17")


def test_bad_inputs_are_one_line_errors():
    with pytest.raises(CocodiffError, match="shape"):
        random_rotate({"keypoint": np.zeros((3, 4, 5))}, np.random.default_rng(0))
    with pytest.raises(CocodiffError, match="window"):
        center_crop_resize(ramp(frames=4), window=0)
    with pytest.raises(CocodiffError, match="ratio"):
        random_crop_resize(ramp(frames=4), np.random.default_rng(0), window=4, min_ratio=0.8, max_ratio=0.5)
    assert joint_present(np.zeros((1, 1, 2, 3))).shape == (1, 1, 2)
