"""The action classes: each one turns a clip's timing into joint-angle curves.

An action gets the idle pose of the person (their posture plus a slow sway, one array per angle
in `body.angle_names()`) and returns it changed by the motion. Two kinds of timing:

- repeated strokes (squat, bow, ...): each repetition goes from the idle pose and back,
  `stroke(cycle)` is 0 at rest and 1 at the top, with a random hold and rise/fall balance;
- held rhythms (waving, clapping, ...): the arms move into a posture during a ramp (`env`),
  oscillate there at phase `2*pi*cycle + phase`, and return.

`cycle` counts repetitions (0 before the action, `reps` after it) and is time-warped a little, so
no two repetitions take exactly the same time. Ranges are degrees unless named otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np

from cocodiff.data.embedded.body import LAYOUT, Body, best_static_pose

Angles = dict[str, np.ndarray]
TAU = 2.0 * np.pi


@dataclass(frozen=True)
class Timing:
    """When the action happens inside the clip, in frames."""

    frames: int
    cycle: np.ndarray  # (T,) repetitions done so far, 0 .. reps
    env: np.ndarray  # (T,) 0 idle, 1 while the rhythm runs (smooth ramps in and out)
    reps: int
    phase: float  # start phase of rhythmic actions, radians
    rise: float  # stroke actions: fraction of a repetition spent rising (before any hold)
    hold: float  # stroke actions: fraction of a repetition held at the top
    amp: np.ndarray  # (T,) amplitude scale, about 1, drifting slowly between repetitions

    def stroke(self) -> np.ndarray:
        """0 at rest, rising smoothly to 1, held, falling back to 0, once per repetition."""
        u = self.cycle - np.floor(self.cycle)
        move = 1.0 - self.hold
        up, down = self.rise * move, (1.0 - self.rise) * move
        rising = _smoothstep(u / up)
        falling = 1.0 - _smoothstep((u - up - self.hold) / down)
        return np.where(u < up + self.hold, rising, falling)

    def wave(self, offset: float = 0.0) -> np.ndarray:
        return np.sin(TAU * self.cycle + self.phase + offset)


@dataclass(frozen=True)
class Action:
    name: str
    period: tuple[float, float]  # seconds per repetition
    reps: tuple[int, int]
    ramp: float  # seconds into and out of the held posture (0 for stroke actions)
    move: Callable[[Angles, Timing, np.random.Generator, Body], tuple[Angles, np.ndarray | None]]
    jumps: bool = False


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _mix(value: np.ndarray, target, weight: np.ndarray) -> np.ndarray:
    return value + weight * (target - value)


def _both(pose: Angles, name: str, func) -> None:
    for side in ("right", "left"):
        pose[f"{side}_{name}"] = func(pose[f"{side}_{name}"], side)


def _swing_knee(body: Body, side: str, hip: np.ndarray, knee: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Knee flexion for a leg leaving the floor without its foot gliding over it, and how far up it is.

    Bending knee and hip alike would slide the foot forward while it barely rises. With
    knee = hip * (1 + thigh / shin) the foot stays under the hip and lifts straight up; once the
    thigh is 25 degrees up the action's own knee curve takes over.
    """
    ratio = 1.0 + body.length(f"{side}_knee") / body.length(f"{side}_ankle")
    up = _smoothstep(hip / 25.0)
    return (1.0 - up) * ratio * hip + up * knee, up


def wave_right_hand(pose, t, rng, body):
    w, side = t.env, "right"
    pose[f"{side}_arm_plane"] = _mix(pose[f"{side}_arm_plane"], rng.uniform(55, 90), w)
    pose[f"{side}_arm_elev"] = _mix(pose[f"{side}_arm_elev"], rng.uniform(95, 130), w)
    pose[f"{side}_arm_rot"] = _mix(pose[f"{side}_arm_rot"], rng.uniform(60, 85), w)
    swing = rng.uniform(18, 32) * t.amp * t.wave()
    pose[f"{side}_elbow"] = _mix(pose[f"{side}_elbow"], rng.uniform(70, 100) + swing, w)
    pose[f"{side}_wrist"] = pose[f"{side}_wrist"] + w * 0.4 * swing
    pose["trunk_side"] = pose["trunk_side"] - w * rng.uniform(0, 4)
    return pose, None


def clap_hands(pose, t, rng, body):
    w = t.env
    closed = 0.5 + 0.5 * t.wave()  # 1 = palms together in front of the chest
    elev, rot, elbow = rng.uniform(30, 55), rng.uniform(-50, -30), rng.uniform(75, 100)
    hand = LAYOUT.index("right_hand")
    # The arm angle that brings this person's palms together (hand joints ~4 cm apart).
    meet = best_static_pose(body, {}, {"arm_plane": np.arange(-20.0, 61.0), "arm_elev": np.array([elev]),
                                       "arm_rot": np.array([rot]), "elbow": np.array([elbow])},
                            lambda p: np.abs(p[:, hand, 0] - 0.02))["arm_plane"]
    open_plane = meet + rng.uniform(30, 45) * t.amp
    _both(pose, "arm_elev", lambda v, s: _mix(v, elev, w))
    _both(pose, "arm_plane", lambda v, s: _mix(v, open_plane + (meet - open_plane) * closed, w))
    _both(pose, "arm_rot", lambda v, s: _mix(v, rot, w))
    _both(pose, "elbow", lambda v, s: _mix(v, elbow, w))
    return pose, None


def raise_both_arms(pose, t, rng, body):
    p = t.stroke()
    sideways = rng.random() < 0.5
    plane = rng.uniform(70, 100) if sideways else rng.uniform(0, 30)
    top = np.minimum(rng.uniform(150, 178) * t.amp, 180.0)
    _both(pose, "arm_plane", lambda v, s: _mix(v, plane, p))
    _both(pose, "arm_elev", lambda v, s: _mix(v, top, p))
    _both(pose, "arm_rot", lambda v, s: _mix(v, 50.0 if sideways else 0.0, p))
    _both(pose, "elbow", lambda v, s: _mix(v, rng.uniform(0, 15), p))
    pose["trunk_flex"] = pose["trunk_flex"] - rng.uniform(0, 6) * p
    return pose, None


def squat(pose, t, rng, body):
    p = t.stroke()
    hip = rng.uniform(70, 105) * t.amp * p
    knee = hip + rng.uniform(15, 35) * p  # the same for both legs, or one foot would lift
    _both(pose, "hip_flex", lambda v, s: v + hip)
    _both(pose, "knee", lambda v, s: v + knee)
    pose["trunk_flex"] = pose["trunk_flex"] + rng.uniform(20, 40) * p
    if rng.random() < 0.6:  # arms forward for balance, else they hang
        _both(pose, "arm_plane", lambda v, s: _mix(v, rng.uniform(0, 20), p))
        _both(pose, "arm_elev", lambda v, s: _mix(v, rng.uniform(65, 95), p))
    return pose, None


def jumping_jacks(pose, t, rng, body):
    # 0 feet together, 1 spread and arms up; changes while airborne, settles before each landing
    open_ = t.env * _smoothstep(0.5 - 0.5 * np.cos(TAU * t.cycle))
    air = np.sin(TAU * t.cycle) ** 2 * t.env  # off the floor between the two stances
    top = np.minimum(rng.uniform(145, 178) * t.amp, 180.0)
    _both(pose, "arm_plane", lambda v, s: _mix(v, rng.uniform(75, 100), open_))
    _both(pose, "arm_elev", lambda v, s: _mix(v, top, open_))
    _both(pose, "arm_rot", lambda v, s: _mix(v, 50.0, open_))
    spread = rng.uniform(12, 22) * t.amp
    _both(pose, "hip_abd", lambda v, s: v + spread * open_)
    bend = rng.uniform(10, 30)
    _both(pose, "hip_flex", lambda v, s: v + 0.5 * bend * (t.env - air))
    _both(pose, "knee", lambda v, s: v + bend * (t.env - air))
    _both(pose, "foot_pitch", lambda v, s: v - 25 * air)
    return pose, rng.uniform(0.05, 0.12) * t.amp * air


def punch_forward(pose, t, rng, body):
    w = t.env
    for side, guard_elev in (("right", rng.uniform(30, 55)), ("left", rng.uniform(30, 55))):
        pose[f"{side}_arm_plane"] = _mix(pose[f"{side}_arm_plane"], rng.uniform(15, 35), w)
        pose[f"{side}_arm_elev"] = _mix(pose[f"{side}_arm_elev"], guard_elev, w)
        pose[f"{side}_arm_rot"] = _mix(pose[f"{side}_arm_rot"], -10, w)
        pose[f"{side}_elbow"] = _mix(pose[f"{side}_elbow"], rng.uniform(110, 135), w)
    first = int(rng.integers(2))  # which fist goes first
    count = np.floor(t.cycle).astype(int)
    reach = np.sin(np.pi * (t.cycle - count)) ** 2 * (t.cycle < t.reps)
    for index, side in enumerate(("right", "left")):
        q = reach * ((count + first) % 2 == index)
        pose[f"{side}_arm_plane"] = _mix(pose[f"{side}_arm_plane"], rng.uniform(-5, 10), q)
        pose[f"{side}_arm_elev"] = _mix(pose[f"{side}_arm_elev"], rng.uniform(75, 95), q)
        pose[f"{side}_arm_rot"] = _mix(pose[f"{side}_arm_rot"], -30, q)
        pose[f"{side}_elbow"] = _mix(pose[f"{side}_elbow"], rng.uniform(0, 15), q)
        pose["trunk_twist"] = pose["trunk_twist"] + (1 if side == "right" else -1) * rng.uniform(8, 20) * q
    return pose, None


def kick_right_leg(pose, t, rng, body):
    p = t.stroke()
    u = t.cycle - np.floor(t.cycle)
    extend = np.exp(-((u - t.rise * (1 - t.hold) - t.hold / 2) / 0.15) ** 2)  # leg straight at the top
    hip = rng.uniform(60, 95) * t.amp * p
    knee, up = _swing_knee(body, "right", hip, rng.uniform(70, 100) * np.sqrt(p) * (1.0 - 0.95 * extend))
    pose["right_hip_flex"] = pose["right_hip_flex"] + hip
    pose["right_knee"] = pose["right_knee"] + knee
    pose["right_foot_pitch"] = pose["right_foot_pitch"] - rng.uniform(10, 35) * p * up
    pose["left_knee"] = pose["left_knee"] + rng.uniform(0, 12) * p
    pose["trunk_flex"] = pose["trunk_flex"] - rng.uniform(3, 12) * p
    _both(pose, "elbow", lambda v, s: _mix(v, rng.uniform(60, 110), np.sqrt(p)))
    _both(pose, "arm_elev", lambda v, s: _mix(v, rng.uniform(15, 40), np.sqrt(p)))
    return pose, None


def bow(pose, t, rng, body):
    p = t.stroke()
    depth = rng.uniform(35, 75) * t.amp
    pose["trunk_flex"] = pose["trunk_flex"] + depth * p
    pose["neck_flex"] = pose["neck_flex"] + rng.uniform(-5, 20) * p
    hang = rng.uniform(0.2, 0.9) * depth  # the arms swing forward a little as the trunk tips
    _both(pose, "arm_plane", lambda v, s: _mix(v, rng.uniform(0, 15), p))
    _both(pose, "arm_elev", lambda v, s: _mix(v, hang, p))
    return pose, None


def arm_circles(pose, t, rng, body):
    w = t.env
    radius = rng.uniform(18, 40) * t.amp
    direction = 1.0 if rng.random() < 0.5 else -1.0  # forward or backward circles
    elev = rng.uniform(80, 100)
    circle_elev = elev + radius * np.cos(TAU * t.cycle * direction + t.phase)
    circle_plane = 90 + radius * np.sin(TAU * t.cycle * direction + t.phase)
    _both(pose, "arm_elev", lambda v, s: _mix(v, circle_elev, w))
    _both(pose, "arm_plane", lambda v, s: _mix(v, circle_plane, w))
    _both(pose, "arm_rot", lambda v, s: _mix(v, rng.uniform(0, 40), w))
    _both(pose, "elbow", lambda v, s: _mix(v, rng.uniform(0, 12), w))
    return pose, None


def touch_head(pose, t, rng, body):
    p = t.stroke()
    hand, head = LAYOUT.index("right_hand"), LAYOUT.index("head")
    # Palms on the top of the head, a little to each side: found for this person's arm lengths.
    spot = np.array([rng.uniform(0.03, 0.07), rng.uniform(0.03, 0.07), rng.uniform(-0.03, 0.03)]) * body.height
    plane, rot = rng.uniform(55, 80), rng.uniform(55, 75)
    reach = best_static_pose(body, {}, {"arm_plane": np.array([plane]), "arm_rot": np.array([rot]),
                                        "arm_elev": np.arange(90.0, 171.0, 4.0), "elbow": np.arange(90.0, 151.0, 3.0)},
                             lambda q: np.linalg.norm(q[:, hand] - q[:, head] - spot, axis=-1))
    # Elbow first: the hands come up in front of the body, not through the head.
    bend = _smoothstep(1.6 * p)
    _both(pose, "arm_plane", lambda v, s: _mix(v, plane, p))
    _both(pose, "arm_rot", lambda v, s: _mix(v, rot, p))
    _both(pose, "arm_elev", lambda v, s: _mix(v, reach["arm_elev"], p))
    _both(pose, "elbow", lambda v, s: _mix(v, reach["elbow"], bend))
    pose["neck_flex"] = pose["neck_flex"] + rng.uniform(0, 10) * p
    return pose, None


def march_in_place(pose, t, rng, body):
    w = t.env
    lift = rng.uniform(40, 70) * t.amp
    knee_ratio = rng.uniform(1.2, 1.6)
    swing = rng.uniform(15, 35) * t.amp
    for side, offset in (("right", 0.0), ("left", np.pi)):
        hip = lift * w * np.maximum(t.wave(offset), 0.0) ** 1.5
        knee, up = _swing_knee(body, side, hip, knee_ratio * hip)
        pose[f"{side}_hip_flex"] = pose[f"{side}_hip_flex"] + hip
        pose[f"{side}_knee"] = pose[f"{side}_knee"] + knee
        pose[f"{side}_foot_pitch"] = pose[f"{side}_foot_pitch"] - 15 * up * hip / lift
        # The opposite arm swings forward with each knee.
        pose[f"{side}_arm_plane"] = _mix(pose[f"{side}_arm_plane"], 0.0, w)
        pose[f"{side}_arm_elev"] = _mix(pose[f"{side}_arm_elev"], -swing * t.wave(offset), w)
        pose[f"{side}_elbow"] = _mix(pose[f"{side}_elbow"], rng.uniform(20, 50), w)
    return pose, None


def bend_sideways(pose, t, rng, body):
    first = 1.0 if rng.random() < 0.5 else -1.0  # lean right first, or left first
    lean = first * np.sin(TAU * t.cycle) * (t.cycle < t.reps)
    pose["trunk_side"] = pose["trunk_side"] + rng.uniform(18, 35) * t.amp * lean
    if rng.random() < 0.6:  # the arm on the far side sweeps overhead
        top = rng.uniform(140, 170)
        pose["left_arm_elev"] = _mix(pose["left_arm_elev"], top, np.maximum(lean, 0.0))
        pose["right_arm_elev"] = _mix(pose["right_arm_elev"], top, np.maximum(-lean, 0.0))
        _both(pose, "arm_rot", lambda v, s: v + 40 * np.abs(lean))
    return pose, None


ACTIONS: tuple[Action, ...] = (
    Action("wave right hand", (0.45, 0.8), (3, 7), 0.5, wave_right_hand),
    Action("clap hands", (0.35, 0.6), (4, 9), 0.4, clap_hands),
    Action("raise both arms", (1.4, 2.4), (1, 3), 0.0, raise_both_arms),
    Action("squat", (1.6, 2.6), (1, 3), 0.0, squat),
    Action("jumping jacks", (0.8, 1.2), (2, 5), 0.25, jumping_jacks, jumps=True),
    Action("punch forward", (0.45, 0.75), (2, 6), 0.4, punch_forward),
    Action("kick right leg", (0.9, 1.5), (1, 3), 0.0, kick_right_leg),
    Action("bow", (1.6, 2.8), (1, 2), 0.0, bow),
    Action("arm circles", (0.6, 1.1), (3, 6), 0.5, arm_circles),
    Action("touch head with both hands", (1.4, 2.4), (1, 3), 0.0, touch_head),
    Action("march in place", (0.9, 1.3), (2, 4), 0.3, march_in_place),
    Action("bend sideways", (1.8, 3.0), (1, 2), 0.0, bend_sideways),
)
CLASSES: tuple[str, ...] = tuple(action.name for action in ACTIONS)


def smooth_noise(rng: np.random.Generator, frames: int, fps: float, slowest_s: float = 3.0) -> np.ndarray:
    """A slow random curve of about unit amplitude: a few sines with random periods and phases."""
    periods, phases = rng.uniform(slowest_s / 3, slowest_s, 3), rng.uniform(0, TAU, 3)
    t = np.arange(frames)[:, None] / fps
    return np.sin(TAU * t / periods + phases).sum(axis=1) / np.sqrt(1.5)


def make_timing(action: Action, rng: np.random.Generator, fps: float, frame_range: tuple[int, int]) -> Timing:
    """Draw tempo, repetitions, idle time before and after, and fit it all in `frame_range`."""
    shortest, longest = frame_range
    period = rng.uniform(*action.period) * fps
    reps = int(rng.integers(action.reps[0], action.reps[1] + 1))
    ramp = action.ramp * fps * rng.uniform(0.8, 1.25)
    before, after = rng.uniform(0.15, 0.6) * fps, rng.uniform(0.15, 0.6) * fps
    while reps > 1 and before + after + 2 * ramp + reps * period > longest:
        reps -= 1
    moving = 2 * ramp + reps * period
    if before + after + moving > longest:  # a slow person: speed them up to fit
        squeeze = (longest - before - after) / moving
        period, ramp = period * squeeze, ramp * squeeze
    spare = shortest - (before + after + 2 * ramp + reps * period)
    if spare > 0:  # a quick one: wait longer before and after
        share = rng.uniform(0.2, 0.8)
        before, after = before + share * spare, after + (1 - share) * spare
    frames = int(np.clip(round(before + after + 2 * ramp + reps * period), shortest, longest))
    index = np.arange(frames, dtype=float)
    start = before + ramp
    # Time-warp: the speed drifts by a few percent, the repetition count stays exact.
    speed = np.clip(1.0 + 0.08 * smooth_noise(rng, frames, fps), 0.7, 1.3)
    inside = (index >= start) & (index < start + reps * period)
    progress = np.cumsum(speed * inside)
    cycle = reps * progress / max(progress[-1], 1e-9) if progress[-1] > 0 else np.zeros(frames)
    if ramp > 0:
        env = _smoothstep((index - before) / ramp) * (1.0 - _smoothstep((index - start - reps * period) / ramp))
    else:
        env = inside.astype(float)
    hold = rng.uniform(0.05, 0.35)
    amp = rng.uniform(0.8, 1.15) * (1.0 + 0.05 * smooth_noise(rng, frames, fps))
    return Timing(frames, cycle, env, reps, float(rng.uniform(0, TAU)), float(rng.uniform(0.4, 0.6)), hold, amp)


def idle_pose(posture: Mapping[str, float], names, rng: np.random.Generator, frames: int, fps: float) -> Angles:
    """The person's posture with a slow, small sway: nobody stands perfectly still."""
    pose = {name: np.full(frames, float(posture.get(name, 0.0))) for name in names}
    for name, size in (("trunk_side", 1.2), ("trunk_flex", 1.0), ("neck_flex", 2.0), ("trunk_twist", 1.5),
                       ("right_arm_elev", 2.0), ("left_arm_elev", 2.0), ("right_elbow", 3.0), ("left_elbow", 3.0)):
        pose[name] = pose[name] + size * smooth_noise(rng, frames, fps, slowest_s=4.0)
    return pose
