"""The simulated sensor: depth errors about the body, made-up joints by the runtime's rules,
smooth drift, glitches and drop-outs, all from the clip's own generator."""

from dataclasses import replace

import numpy as np
import pytest

from cocodiff.data.embedded import EmbeddedConfig
from cocodiff.data.embedded.dataset import View, simulate_clip
from cocodiff.data.embedded.sensor import KINDS, Sensor, draw_sensor, observe, smooth_noise
from cocodiff.data.layouts import NTU25
from cocodiff.data.retarget import HAND_TIP, NECK, retarget

J = NTU25.index
PERFECT = Sensor("kinect_v2", white_m=0.0, drift_m=0.0, drift_s=0.2, depth_scale=1.0, depth_noise_m=0.0,
                 touch_m=0.0, glitches_per_s=0.0, drop_rate=0.0)
VIEW = View(yaw=20.0, x=0.1, depth=3.0, camera_height=1.0, tilt=5.0, roll=0.0)


@pytest.fixture(scope="module")
def clean():
    clip = simulate_clip("punch forward", np.random.default_rng(3), view=VIEW, config=EmbeddedConfig(sensor=False))
    assert clip.sensor is None and not clip.dropped.any()
    np.testing.assert_array_equal(clip.sample["keypoint"][0], clip.clean.astype(np.float32))
    return clip.clean


def observed(clean, sensor, seed=0):
    return observe(clean, sensor, np.random.default_rng(seed), 30.0)


def test_a_perfect_sensor_changes_nothing(clean):
    points, dropped = observed(clean, PERFECT)
    np.testing.assert_allclose(points, clean, atol=1e-12)
    assert not dropped.any()


def test_depth_scale_shrinks_depth_about_the_body_only(clean):
    points, _ = observed(clean, replace(PERFECT, depth_scale=0.5))
    middle = clean[:, J("spine_mid"), 2:3]
    np.testing.assert_allclose(points[..., 2] - middle, 0.5 * (clean[..., 2] - middle), atol=1e-12)
    np.testing.assert_allclose(points[..., :2], clean[..., :2], atol=1e-12)


def test_kinect_v1_joints_are_the_retargeting_round_trip(clean):
    points, _ = observed(clean, replace(PERFECT, kind="kinect_v1"))
    sample = {"keypoint": clean[None].astype(np.float32)}
    expected = retarget(retarget(sample, "ntu25", "kinect20"), "kinect20", "ntu25")["keypoint"][0]
    np.testing.assert_allclose(points, expected, atol=1e-5)
    np.testing.assert_allclose(points[:, J("right_thumb")], points[:, J("right_hand")], atol=1e-5)
    wrist, hand = clean[:, J("left_wrist")], clean[:, J("left_hand")]
    np.testing.assert_allclose(points[:, J("left_hand_tip")], wrist + HAND_TIP * (hand - wrist), atol=1e-5)


def test_pose_estimator_spine_is_built_from_shoulders_and_hips(clean):
    points, _ = observed(clean, replace(PERFECT, kind="pose_estimator"))
    shoulders = 0.5 * (clean[:, J("left_shoulder")] + clean[:, J("right_shoulder")])
    np.testing.assert_allclose(points[:, J("spine_shoulder")], shoulders, atol=1e-12)
    np.testing.assert_allclose(points[:, J("neck")], shoulders + NECK * (clean[:, J("head")] - shoulders), atol=1e-12)
    np.testing.assert_allclose(points[:, J("right_thumb")], clean[:, J("right_thumb")], atol=1e-12)  # MediaPipe has thumbs


def test_drift_is_smooth_and_white_noise_is_not():
    rng = np.random.default_rng(0)
    slow, fast = smooth_noise(rng, (3000, 4), 9.0), smooth_noise(rng, (3000, 4), 1.0)
    lag1 = lambda x: np.mean([np.corrcoef(x[1:, i], x[:-1, i])[0, 1] for i in range(x.shape[1])])  # noqa: E731
    assert lag1(slow) > 0.9 and abs(lag1(fast)) < 0.1
    assert np.allclose(slow.std(axis=0), 1.0) and np.allclose(fast.std(axis=0), 1.0, atol=0.05)


def test_noise_glitches_and_drops(clean):
    sensor = replace(PERFECT, white_m=0.002, drift_m=0.01, glitches_per_s=3.0, drop_rate=0.05)
    points, dropped = observed(clean, sensor)
    assert dropped.any() and not points[dropped].any()  # a lost body is all zeros
    error = np.linalg.norm(points[~dropped] - clean[~dropped], axis=-1)
    assert 0.003 < np.median(error) < 0.03 and error.max() > 0.05  # centimetres of drift, glitches beyond
    again, _ = observed(clean, sensor)
    np.testing.assert_array_equal(points, again)  # the clip's generator is the only randomness


def test_hands_that_touch_are_tracked_worse():
    clip = simulate_clip("clap hands", np.random.default_rng(4), view=VIEW, config=EmbeddedConfig(sensor=False))
    points, _ = observed(clip.clean, replace(PERFECT, touch_m=0.04))
    error = np.linalg.norm(points - clip.clean, axis=-1)
    hands = [J(f"{side}_hand") for side in ("left", "right")]
    apart = np.linalg.norm(clip.clean[:, hands[0]] - clip.clean[:, hands[1]], axis=-1)
    assert error[apart < 0.1][:, hands].mean() > 0.01  # palms together: centimetres off
    assert error[:, [J("head"), J("left_knee")]].max() == 0.0  # the rest untouched


def test_every_kind_is_drawn_and_within_range():
    rng = np.random.default_rng(1)
    sensors = [draw_sensor(rng) for _ in range(300)]
    assert {s.kind for s in sensors} == set(KINDS)
    assert all(0 < s.white_m <= 0.006 and 0 < s.drift_m <= 0.02 and 0.4 <= s.depth_scale <= 1.1 for s in sensors)
    kinects = [s for s in sensors if s.kind != "pose_estimator"]
    assert max(s.white_m for s in kinects) <= 0.001 and max(s.depth_noise_m for s in kinects) <= 0.01
