"""The embedded procedural dataset: shape, splits, determinism and physical plausibility."""

import re

import numpy as np
import pytest

from cocodiff.data.annotations import load_annotations, split_samples
from cocodiff.data.embedded import CLASSES, EmbeddedConfig, embedded_annotations, embedded_clip, generate_clip
from cocodiff.data.embedded.body import LIMITS, SIDES, draw_body, pose_positions
from cocodiff.data.embedded.dataset import View, find_action, simulate_clip
from cocodiff.data.layouts import NTU25
from cocodiff.data.sample import validate_sample
from cocodiff.errors import CocodiffError

J = NTU25.index
FRONT = View(yaw=0.0, x=0.0, depth=0.0, camera_height=0.0, tilt=0.0, roll=0.0)  # camera frame = body frame
CLEAN = EmbeddedConfig(sensor=False, drop_rate=0.0)


@pytest.fixture(scope="module")
def default_data():
    return embedded_annotations(EmbeddedConfig())


def clips(action, count=6, config=CLEAN, view=FRONT):
    return [simulate_clip(action, np.random.default_rng([seed, 77]), view=view, config=config) for seed in range(count)]


def subject_of(name):
    return int(re.search(r"_P(\d+)_", name).group(1))


@pytest.mark.slow  # the whole default dataset: about 12 s to generate
def test_at_least_ten_distinct_classes(default_data):
    assert len(CLASSES) >= 10 and len(set(CLASSES)) == len(CLASSES)
    meta = default_data["meta"]
    assert meta["classes"] == list(CLASSES)
    assert (meta["layout"], meta["dataset"], meta["source"], meta["seed"]) == ("ntu25", "embedded", "cocodiff.data.embedded", 0)


@pytest.mark.slow  # the whole default dataset: about 12 s to generate
def test_default_split_sizes_and_names(default_data):
    config = EmbeddedConfig()
    for split, count in (("train", config.per_class("train")), ("val", config.per_class("val"))):
        names = default_data["split"][split]
        assert len(names) == count * len(CLASSES)
        assert 96 <= count <= 160 if split == "train" else 15 <= count <= 20
    names = [s["frame_dir"] for s in default_data["annotations"]]
    assert len(set(names)) == len(names) == sum(len(v) for v in default_data["split"].values())
    labels = np.bincount([s["label"] for s in default_data["annotations"]])
    assert labels.min() == labels.max()


@pytest.mark.slow  # the whole default dataset: about 12 s to generate
def test_every_sample_is_valid_and_ntu_shaped(default_data):
    for raw in default_data["annotations"]:
        sample = validate_sample(raw, "embedded", NTU25)
        persons, frames, joints, channels = sample["keypoint"].shape
        assert raw["keypoint"].dtype == np.float32
        assert (persons, joints, channels) == (2, 25, 3) and 40 <= frames <= 100
        assert sample["total_frames"] == frames
        assert not sample["keypoint"][1].any(), "the second person is padding"


@pytest.mark.slow  # the whole default dataset: about 12 s to generate
def test_train_and_val_use_disjoint_subjects(default_data):
    subjects = {split: {subject_of(n) for n in names} for split, names in default_data["split"].items()}
    assert subjects["train"] and subjects["val"] and not subjects["train"] & subjects["val"]
    assert default_data["meta"]["subjects"] == {k: sorted(v) for k, v in subjects.items()}


def test_same_config_gives_identical_arrays_and_seed_changes_them():
    small = EmbeddedConfig(train_per_class=2, test_per_class=1)
    first, second = embedded_annotations(small), embedded_annotations(small)
    assert first["split"] == second["split"]
    for a, b in zip(first["annotations"], second["annotations"]):
        assert a["frame_dir"] == b["frame_dir"] and a["label"] == b["label"]
        np.testing.assert_array_equal(a["keypoint"], b["keypoint"])
    other = embedded_annotations(EmbeddedConfig(seed=1, train_per_class=2, test_per_class=1))
    assert not np.array_equal(first["annotations"][0]["keypoint"], other["annotations"][0]["keypoint"])
    # One clip can be rebuilt alone, and does not depend on the dataset size.
    alone = embedded_clip(EmbeddedConfig(train_per_class=5), "train", 3, 1).sample
    inside = next(s for s in first["annotations"] if s["frame_dir"] == alone["frame_dir"])
    np.testing.assert_array_equal(alone["keypoint"], inside["keypoint"])


def test_generate_clip_is_deterministic_for_a_seed():
    a = generate_clip("squat", np.random.default_rng(5))
    b = generate_clip("squat", np.random.default_rng(5))
    np.testing.assert_array_equal(a["keypoint"], b["keypoint"])
    assert a["label"] == CLASSES.index("squat")


@pytest.mark.parametrize("action", CLASSES)
def test_bone_lengths_constant_within_a_clip(action):
    for clip in clips(action, count=3, config=EmbeddedConfig(), view=None):
        truth = clip.body.bone_lengths()
        clean = np.stack([np.linalg.norm(clip.clean[:, c] - clip.clean[:, p], axis=-1) for c, p in NTU25.bones], axis=1)
        assert np.abs(clean - truth).max() < 1e-5
        # What the sensor makes of them is tests/test_sensor.py's business.


def _signed_knee_flexion(positions, side):
    thigh = positions[:, J(f"{side}_knee")] - positions[:, J(f"{side}_hip")]
    shin = positions[:, J(f"{side}_ankle")] - positions[:, J(f"{side}_knee")]
    lateral = positions[:, J("right_hip")] - positions[:, J("left_hip")]
    lateral /= np.linalg.norm(lateral, axis=-1, keepdims=True)
    # A knee bends the shin backwards: thigh x shin points to the subject's left.
    sine = -np.einsum("ti,ti->t", np.cross(thigh, shin), lateral)
    return np.degrees(np.arctan2(sine, np.einsum("ti,ti->t", thigh, shin)))


def _signed_elbow_flexion(positions, side):
    """Positive when the forearm bends towards the thumb side, the front of the arm in this model."""
    upper = positions[:, J(f"{side}_elbow")] - positions[:, J(f"{side}_shoulder")]
    fore = positions[:, J(f"{side}_wrist")] - positions[:, J(f"{side}_elbow")]
    thumb = positions[:, J(f"{side}_thumb")] - positions[:, J(f"{side}_hand")]
    axis_f = fore / np.linalg.norm(fore, axis=-1, keepdims=True)
    front = thumb - np.einsum("ti,ti->t", thumb, axis_f)[:, None] * axis_f
    hinge = np.cross(axis_f, front)  # the elbow's flexion axis
    hinge /= np.linalg.norm(hinge, axis=-1, keepdims=True)
    sine = np.einsum("ti,ti->t", np.cross(upper, fore), hinge)
    return np.degrees(np.arctan2(sine, np.einsum("ti,ti->t", upper, fore)))


@pytest.mark.parametrize("action", CLASSES)
def test_joint_angles_stay_in_human_ranges(action):
    for clip in clips(action, count=4, view=None):
        for name, (low, high) in LIMITS.items():
            assert low <= clip.angles[name].min() and clip.angles[name].max() <= high, name
        for side in SIDES:
            knee = _signed_knee_flexion(clip.clean, side)
            assert knee.min() > -5 and knee.max() < 155, (side, knee.min(), knee.max())
            elbow = _signed_elbow_flexion(clip.clean, side)
            assert elbow.min() > -5 and elbow.max() < 155, (side, elbow.min(), elbow.max())


def test_right_is_right_when_facing_the_camera():
    for seed in range(5):
        body = draw_body(np.random.default_rng(seed))
        neutral = FRONT.to_camera(pose_positions(body, {k: np.full(1, v) for k, v in body.posture.items()}))[0]
        for part in ("shoulder", "hip", "hand", "foot"):
            assert neutral[J(f"right_{part}"), 0] > neutral[J(f"left_{part}"), 0], part
        assert neutral[J("right_foot"), 2] < neutral[J("right_ankle"), 2], "toes point at the camera"
    # The real NTU convention, where the data is present: right shoulder at larger x.
    sample = generate_clip("bow", np.random.default_rng(0))
    assert np.median(sample["keypoint"][0, :, J("right_shoulder"), 0] - sample["keypoint"][0, :, J("left_shoulder"), 0]) > 0


def _travel(clip, joint):
    return np.linalg.norm(np.diff(clip.clean[:, J(joint)], axis=0), axis=-1).sum()


def test_actions_move_the_body_parts_they_name():
    for clip in clips("wave right hand"):
        assert _travel(clip, "right_hand") > 4 * _travel(clip, "left_hand")
    for clip in clips("kick right leg"):
        assert clip.clean[:, J("right_foot"), 1].max() > clip.clean[:, J("left_foot"), 1].max() + 0.15
    for clip in clips("bow"):  # forward is towards the camera: z falls
        assert clip.clean[:, J("head"), 2].min() < clip.clean[0, J("head"), 2] - 0.2
    for clip in clips("squat"):
        assert clip.clean[:, J("spine_base"), 1].min() < clip.clean[0, J("spine_base"), 1] - 0.2
    for clip in clips("raise both arms"):
        for side in SIDES:
            assert clip.clean[:, J(f"{side}_hand"), 1].max() > clip.clean[:, J("head"), 1].max()


def test_the_added_actions_do_what_they_say():
    """FRONT view: camera frame = body frame, +x the subject's right, -z forward, +y up."""
    for clip in clips("swipe left"):  # the right hand ends far to the left of where it started
        elev = clip.angles["right_arm_elev"]
        hand, top = clip.clean[:, J("right_hand")], elev > 0.9 * elev.max()  # while the arm is up
        assert hand[top, 0][0] - hand[top, 0][-1] > 0.15
    for clip in clips("swipe right"):
        elev = clip.angles["right_arm_elev"]
        hand, top = clip.clean[:, J("right_hand")], elev > 0.9 * elev.max()
        assert hand[top, 0][-1] - hand[top, 0][0] > 0.15
    for clip in clips("cross arms"):  # midway, each hand lies on the other upper arm
        middle = clip.clean[len(clip.clean) // 2]
        for side, other in (("right", "left"), ("left", "right")):
            elbow, shoulder = middle[J(f"{other}_elbow")], middle[J(f"{other}_shoulder")]
            along = np.clip(np.dot(middle[J(f"{side}_hand")] - elbow, shoulder - elbow)
                            / np.dot(shoulder - elbow, shoulder - elbow), 0.0, 1.0)
            assert np.linalg.norm(middle[J(f"{side}_hand")] - (elbow + along * (shoulder - elbow))) < 0.12
    for clip in clips("throw"):  # the right hand goes above the head, then ahead of the chest
        hand, head = clip.clean[:, J("right_hand")], clip.clean[:, J("head")]
        high = int(np.argmax(hand[:, 1] - head[:, 1]))
        assert hand[high, 1] > head[high, 1] and (hand[high:, 2] - head[high:, 2]).min() < -0.35
    for clip in clips("sit down"):  # ends seated: hips down by about a thigh's length
        hips = clip.clean[:, J("spine_base"), 1]
        assert hips[-1] < hips[0] - 0.25
    for clip in clips("stand up"):
        hips = clip.clean[:, J("spine_base"), 1]
        assert hips[-1] > hips[0] + 0.25


def test_feet_stay_on_the_floor_unless_jumping():
    for action in CLASSES:
        for clip in clips(action, count=4):
            feet = clip.clean[:, [J("left_foot"), J("right_foot"), J("left_ankle"), J("right_ankle")], 1]
            lowest = feet.min(axis=1)
            if find_action(action).jumps:  # may leave the floor (jogging in place does, walking does not)
                assert action != "jumping jacks" or lowest.max() > 0.03
            else:
                assert lowest.max() - lowest.min() < 0.03, action  # the sole stays at floor level


@pytest.mark.slow  # the whole default dataset: about 12 s to generate
def test_dropped_frames_are_rare_all_zero_frames(default_data):
    dropped = [~s["keypoint"][0].any(axis=(1, 2)) for s in default_data["annotations"]]
    rate = np.concatenate(dropped).mean()
    with_drops = np.mean([d.any() for d in dropped])
    assert 0.002 < rate < 0.06 and 0.05 < with_drops < 0.8


def test_nearest_centroid_is_well_above_chance(default_data):
    by_name = {s["frame_dir"]: s for s in default_data["annotations"]}

    def features(sample):
        k = sample["keypoint"][0]
        k = k[k.any(axis=(1, 2))]
        rel = k - k[:, [J("spine_base")]]
        flat = np.linalg.norm(rel[..., [0, 2]], axis=-1)
        return np.concatenate([rel[..., 1].mean(0), rel[..., 1].std(0), flat.mean(0), flat.std(0)])

    data = {split: (np.array([features(by_name[n]) for n in names]), np.array([by_name[n]["label"] for n in names]))
            for split, names in default_data["split"].items()}
    (x, y), (xv, yv) = data["train"], data["val"]
    mean, std = x.mean(0), x.std(0) + 1e-6
    centroids = np.stack([((x - mean) / std)[y == c].mean(0) for c in range(len(CLASSES))])
    distances = ((((xv - mean) / std)[:, None] - centroids[None]) ** 2).sum(-1)
    predicted = distances.argmin(axis=1)
    assert (predicted == yv).mean() > 0.5  # chance is 1/12


def test_bad_requests_are_one_line_errors():
    with pytest.raises(CocodiffError, match="unknown class 'fly'"):
        find_action("fly")
    with pytest.raises(CocodiffError, match="out of range"):
        find_action(len(CLASSES))
    with pytest.raises(CocodiffError, match="out of range"):
        embedded_clip(EmbeddedConfig(), "val", 0, 999)
    with pytest.raises(CocodiffError, match="unknown split"):
        embedded_clip(EmbeddedConfig(), "test", 0, 0)
    with pytest.raises(CocodiffError, match="train_per_class"):
        EmbeddedConfig(train_per_class=0)


def test_prepare_writes_a_loadable_file(tmp_path):
    from cocodiff.data.prepare import main

    out = tmp_path / "embedded.pkl"
    assert main(["embedded", "--train-per-class", "2", "--test-per-class", "1", "--out", str(out)]) == 0
    content = load_annotations(out)
    assert len(split_samples(content, "val", out, NTU25)) == len(CLASSES)
    assert content["meta"]["config"]["train_per_class"] == 2
