"""What a skeleton sensor makes of a clean simulated body: noise, depth errors, joint semantics.

Measured on real recordings (UTD-MHAD's Kinect v1, NTU's Kinect v2, MediaPipe on video) and
missing from a clean simulation:

- jitter is small and smooth: the Kinect SDK filters its joints, so frame-to-frame white noise
  is under a millimetre (the median second difference of UTD-MHAD's joints is 0.3-1.4 mm in
  actions that move one arm), and most error is a slow drift of a centimetre that follows the
  body part (a hand "swims" around its true place);
- depth is the weak axis. A limb that points at the camera is seen shorter than it is (a real
  squat's thighs shrink to about half their length on a Kinect v1), and a monocular pose
  estimator's depth is noisier still: a per-clip scale of each joint's depth about the body,
  plus depth-only noise. On the MediaPipe output in ../shared/data/videos (a push-up), the
  frame-to-frame second difference of z is 3-7 times that of x and y, and arm bones vary by
  13-17% of their length within the clip, so a pose estimator's jitter and drift are drawn
  several times a Kinect's;
- tracking fails now and then: a hand or foot jumps a few centimetres for a few frames, or the
  whole body is lost (all zeros, as the Kinect writes it). A depth sensor loses a hand most
  where it touches the body or the other hand (clapping, arms crossed): there the hand wanders
  by a few centimetres more;
- joint semantics differ by sensor. A Kinect v1 and MediaPipe have no hand tips or thumbs, and
  the runtime makes them by the retargeting rules (`cocodiff.data.retarget`); a model trained
  only on Kinect v2 tips would meet those made-up tips for the first time live. So a share of
  clips go through the same rules: "kinect_v1" is the round trip ntu25 -> kinect20 -> ntu25,
  "pose_estimator" rebuilds the spine and hands as the MediaPipe rules do.

`observe(clean, sensor, rng)` applies one `Sensor`, drawn per clip by `draw_sensor`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cocodiff.data.embedded.body import LAYOUT
from cocodiff.data.retarget import HAND_TIP, NECK, SPINE_MID, retargeting

KINDS = ("kinect_v2", "kinect_v1", "pose_estimator")
KIND_SHARE = (0.4, 0.3, 0.3)
_J = LAYOUT.index
_DISTAL = tuple(_J(f"{side}_{part}") for side in ("left", "right")
                for part in ("hand", "hand_tip", "thumb", "wrist", "foot", "ankle"))


@dataclass(frozen=True)
class Sensor:
    """One clip's sensor; lengths in metres, times in seconds."""

    kind: str  # one of KINDS
    white_m: float  # frame-to-frame jitter (standard deviation)
    drift_m: float  # slow wander of each joint about its true place (standard deviation)
    drift_s: float  # how slowly it wanders (smoothing time)
    depth_scale: float  # joint depth about the body's middle is seen this many times as deep
    depth_noise_m: float  # extra drift along the camera axis only
    touch_m: float  # extra wander of a hand that touches the other hand or the trunk
    glitches_per_s: float  # rate of short jumps of one hand or foot
    drop_rate: float  # chance per frame that a 1-3 frame drop-out (all zeros) starts


def draw_sensor(rng: np.random.Generator, drop_rate: float = 0.01, noise_scale: float = 1.0) -> Sensor:
    """A random sensor: a Kinect v2 as recorded, a Kinect v1, or a monocular pose estimator."""
    kind = KINDS[int(rng.choice(len(KINDS), p=KIND_SHARE))]
    estimator = kind == "pose_estimator"
    return Sensor(
        kind=kind,
        white_m=noise_scale * float(rng.uniform(0.002, 0.006) if estimator else rng.uniform(0.0001, 0.001)),
        drift_m=noise_scale * float(rng.uniform(0.005, 0.02) if estimator else rng.uniform(0.002, 0.012)),
        drift_s=float(rng.uniform(0.1, 0.5)),
        depth_scale=float(rng.uniform(0.4, 1.1) if estimator else rng.uniform(0.55, 1.05)),
        depth_noise_m=noise_scale * float(rng.uniform(0.015, 0.05) if estimator else rng.uniform(0.0, 0.01)),
        touch_m=noise_scale * float(rng.uniform(0.0, 0.05)),
        glitches_per_s=float(rng.choice([0.0, rng.uniform(0.1, 0.6)])),
        drop_rate=drop_rate,
    )


def smooth_noise(rng: np.random.Generator, shape: tuple[int, ...], frames_smoothing: float) -> np.ndarray:
    """Unit-variance noise along axis 0, low-pass filtered over about `frames_smoothing` frames."""
    white = rng.normal(0.0, 1.0, shape)
    if frames_smoothing <= 1.0:
        return white
    alpha = 1.0 / frames_smoothing  # one-pole filter run forwards and backwards: no lag
    out = white.copy()
    for direction in (1, -1):
        view = out[::direction]
        for t in range(1, len(view)):
            view[t] = view[t - 1] + alpha * (view[t] - view[t - 1])
    std = out.std(axis=0, keepdims=True)
    return out / np.where(std > 0, std, 1.0)


def _derive_hands_and_spine(points: np.ndarray, kind: str) -> np.ndarray:
    """The joints a Kinect v1 or a pose estimator lacks, rebuilt as the runtime rebuilds them."""
    if kind == "kinect_v1":
        to_v1, back = retargeting("ntu25", "kinect20"), retargeting("kinect20", "ntu25")
        return back.apply(to_v1.apply(points)[0])[0]
    out = points.copy()
    shoulders = 0.5 * (points[:, _J("left_shoulder")] + points[:, _J("right_shoulder")])
    hips = 0.5 * (points[:, _J("left_hip")] + points[:, _J("right_hip")])
    out[:, _J("spine_base")], out[:, _J("spine_shoulder")] = hips, shoulders
    out[:, _J("spine_mid")] = hips + SPINE_MID * (shoulders - hips)
    out[:, _J("neck")] = shoulders + NECK * (points[:, _J("head")] - shoulders)
    for side in ("left", "right"):
        wrist, hand = points[:, _J(f"{side}_wrist")], points[:, _J(f"{side}_hand")]
        out[:, _J(f"{side}_hand_tip")] = wrist + HAND_TIP * (hand - wrist)
    return out


_HANDS = {side: (_J(f"{side}_hand"), _J(f"{side}_wrist"), _J(f"{side}_hand_tip"), _J(f"{side}_thumb"))
          for side in ("left", "right")}
_TOUCH_M = 0.12  # a hand this close to the other hand or the trunk is hard to track


def _lose_touching_hands(points: np.ndarray, clean: np.ndarray, size_m: float, rng: np.random.Generator,
                         fps: float) -> np.ndarray:
    """Extra smooth wander (`size_m`) of a hand, wherever it nearly touches the other hand or the
    trunk (spine joints) in the clean pose."""
    trunk = clean[:, [_J("spine_base"), _J("spine_mid"), _J("spine_shoulder")]]
    out = points.copy()
    for side, other in (("left", "right"), ("right", "left")):
        hand = clean[:, _HANDS[side][0]]
        gap = np.minimum(np.linalg.norm(hand - clean[:, _HANDS[other][0]], axis=-1),
                         np.linalg.norm(trunk - hand[:, None], axis=-1).min(axis=1))
        touching = np.clip((2 * _TOUCH_M - gap) / _TOUCH_M, 0.0, 1.0)  # 1 when touching, 0 beyond twice the gap
        if touching.any():
            wander = size_m * smooth_noise(rng, (len(points), 3), 0.2 * fps)
            out[:, list(_HANDS[side])] += (touching[:, None] * wander)[:, None, :]
    return out


def observe(clean: np.ndarray, sensor: Sensor, rng: np.random.Generator, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """(T, V, 3) camera-frame positions as `sensor` reports them, and the (T,) dropped frames."""
    frames, joints, _ = clean.shape
    points = clean.copy()
    middle = points[:, _J("spine_mid"), 2:3]  # (T, 1): depth errors are about the body, not the camera
    points[..., 2] = middle + sensor.depth_scale * (points[..., 2] - middle)
    if sensor.kind != "kinect_v2":
        points = _derive_hands_and_spine(points, sensor.kind)
    hand_scale = np.ones((joints, 1))
    hand_scale[list(_DISTAL)] = 1.8  # hands and feet wander most
    points += sensor.drift_m * hand_scale * smooth_noise(rng, points.shape, sensor.drift_s * fps)
    depth_noise = smooth_noise(rng, (frames, joints), 0.15 * fps)
    if sensor.kind == "pose_estimator":  # a monocular estimate's depth also jumps from frame to frame
        depth_noise = (depth_noise + rng.normal(0.0, 1.0, (frames, joints))) / np.sqrt(2.0)
    points[..., 2] += sensor.depth_noise_m * depth_noise
    points += sensor.white_m * hand_scale * rng.normal(0.0, 1.0, points.shape)
    if sensor.touch_m > 0:
        points = _lose_touching_hands(points, clean, sensor.touch_m, rng, fps)
    for start in np.flatnonzero(rng.random(frames) < sensor.glitches_per_s / fps):
        joint = _DISTAL[int(rng.integers(len(_DISTAL)))]
        length = int(rng.integers(2, 9))
        points[start:start + length, joint] += rng.normal(0.0, 0.06, 3)
    dropped = np.zeros(frames, dtype=bool)
    for start in np.flatnonzero(rng.random(frames) < sensor.drop_rate):
        dropped[start:start + int(rng.integers(1, 4))] = True
    points[dropped] = 0.0
    return points, dropped
