"""Arm actions: joint-angle curves for the arms (and the trunk where it follows them).

Each motion takes the idle pose, the clip's `Timing`, the clip's generator and the body, and
returns the pose with the motion added, plus an optional lift off the floor (None here).
Angles follow `body` (degrees; `arm_plane` 0 = straight ahead, 90 = out to the side, negative =
across the body; `arm_elev` 0 = hanging).
"""

from __future__ import annotations

import numpy as np

from cocodiff.data.embedded.body import LAYOUT, best_static_pose
from cocodiff.data.embedded.timing import TAU, both, mix, smoothstep


def wave_right_hand(pose, t, rng, body):
    """The upper arm up in front of the shoulder (or out to the side), the forearm upright with
    the hand over the elbow, swinging side to side about three times a second.

    Real waves (UTD-MHAD) hold the forearm vertical and swing the hand 0.25-0.5 m. With the arm
    in front, that swing is a turn of the upper arm about its own axis; with the arm out to the
    side, it is the elbow bending and unbending. Turning the upper arm as far as the arm plane
    keeps the forearm upright in both."""
    w, side = t.env, "right"
    forward = rng.random() < 0.8
    plane = rng.uniform(5, 55) if forward else rng.uniform(60, 95)
    swing = rng.uniform(20, 38) * t.amp * t.wave()
    pose[f"{side}_arm_plane"] = mix(pose[f"{side}_arm_plane"], plane, w)
    pose[f"{side}_arm_elev"] = mix(pose[f"{side}_arm_elev"], rng.uniform(60, 115), w)
    upright = plane + rng.uniform(-10, 10)
    if forward:
        pose[f"{side}_arm_rot"] = mix(pose[f"{side}_arm_rot"], upright, w) + w * swing
        pose[f"{side}_elbow"] = mix(pose[f"{side}_elbow"], rng.uniform(70, 110), w)
    else:
        pose[f"{side}_arm_rot"] = mix(pose[f"{side}_arm_rot"], upright, w)
        pose[f"{side}_elbow"] = mix(pose[f"{side}_elbow"], rng.uniform(65, 100) + swing, w)
    pose[f"{side}_wrist"] = pose[f"{side}_wrist"] + w * rng.uniform(0.0, 0.5) * swing
    pose["trunk_side"] = pose["trunk_side"] - w * rng.uniform(0, 4)
    return pose, None


def clap_hands(pose, t, rng, body):
    """Palms meet in front of the body: upper arms by the sides and forearms forward, up to arms
    stretched out at chest height."""
    w = t.env
    closed = 0.5 + 0.5 * t.wave()  # 1 = palms together in front of the chest
    elev, rot = rng.uniform(10, 70), rng.uniform(-55, -25)
    elbow = rng.uniform(60, 130) if elev < 35 else rng.uniform(25, 110)
    hand = LAYOUT.index("right_hand")
    # The arm angle that brings this person's palms together (hand joints ~4 cm apart).
    meet = best_static_pose(body, {}, {"arm_plane": np.arange(-40.0, 61.0), "arm_elev": np.array([elev]),
                                       "arm_rot": np.array([rot]), "elbow": np.array([elbow])},
                            lambda p: np.abs(p[:, hand, 0] - 0.02))["arm_plane"]
    # Real claps open the hands a hand's width or two; some people open wide.
    open_plane = meet + (rng.uniform(12, 40) if rng.random() < 0.75 else rng.uniform(40, 80)) * t.amp
    both(pose, "arm_elev", lambda v, s: mix(v, elev, w))
    both(pose, "arm_plane", lambda v, s: mix(v, open_plane + (meet - open_plane) * closed, w))
    both(pose, "arm_rot", lambda v, s: mix(v, rot, w))
    both(pose, "elbow", lambda v, s: mix(v, elbow, w))
    return pose, None


def raise_both_arms(pose, t, rng, body):
    p = t.stroke()
    sideways = rng.random() < 0.5
    plane = rng.uniform(70, 100) if sideways else rng.uniform(0, 30)
    top = np.minimum(rng.uniform(150, 178) * t.amp, 180.0)
    both(pose, "arm_plane", lambda v, s: mix(v, plane, p))
    both(pose, "arm_elev", lambda v, s: mix(v, top, p))
    both(pose, "arm_rot", lambda v, s: mix(v, 50.0 if sideways else 0.0, p))
    both(pose, "elbow", lambda v, s: mix(v, rng.uniform(0, 15), p))
    pose["trunk_flex"] = pose["trunk_flex"] - rng.uniform(0, 6) * p
    return pose, None


def punch_forward(pose, t, rng, body):
    w = t.env
    for side, guard_elev in (("right", rng.uniform(30, 75)), ("left", rng.uniform(30, 75))):  # fists at chin or chest
        pose[f"{side}_arm_plane"] = mix(pose[f"{side}_arm_plane"], rng.uniform(15, 40), w)
        pose[f"{side}_arm_elev"] = mix(pose[f"{side}_arm_elev"], guard_elev, w)
        pose[f"{side}_arm_rot"] = mix(pose[f"{side}_arm_rot"], -10, w)
        pose[f"{side}_elbow"] = mix(pose[f"{side}_elbow"], rng.uniform(100, 140), w)
    first = int(rng.integers(2))  # which fist goes first
    count = np.floor(t.cycle).astype(int)
    reach = np.sin(np.pi * (t.cycle - count)) ** 2 * (t.cycle < t.reps)
    for index, side in enumerate(("right", "left")):
        q = reach * ((count + first) % 2 == index)
        pose[f"{side}_arm_plane"] = mix(pose[f"{side}_arm_plane"], rng.uniform(-5, 10), q)
        pose[f"{side}_arm_elev"] = mix(pose[f"{side}_arm_elev"], rng.uniform(70, 105), q)
        pose[f"{side}_arm_rot"] = mix(pose[f"{side}_arm_rot"], -30, q)
        pose[f"{side}_elbow"] = mix(pose[f"{side}_elbow"], rng.uniform(0, 15), q)
        pose["trunk_twist"] = pose["trunk_twist"] + (1 if side == "right" else -1) * rng.uniform(8, 20) * q
    return pose, None


def arm_circles(pose, t, rng, body):
    w = t.env
    radius = rng.uniform(18, 40) * t.amp
    direction = 1.0 if rng.random() < 0.5 else -1.0  # forward or backward circles
    elev = rng.uniform(80, 100)
    circle_elev = elev + radius * np.cos(TAU * t.cycle * direction + t.phase)
    circle_plane = 90 + radius * np.sin(TAU * t.cycle * direction + t.phase)
    both(pose, "arm_elev", lambda v, s: mix(v, circle_elev, w))
    both(pose, "arm_plane", lambda v, s: mix(v, circle_plane, w))
    both(pose, "arm_rot", lambda v, s: mix(v, rng.uniform(0, 40), w))
    both(pose, "elbow", lambda v, s: mix(v, rng.uniform(0, 12), w))
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
    bend = smoothstep(1.6 * p)
    both(pose, "arm_plane", lambda v, s: mix(v, plane, p))
    both(pose, "arm_rot", lambda v, s: mix(v, rot, p))
    both(pose, "arm_elev", lambda v, s: mix(v, reach["arm_elev"], p))
    both(pose, "elbow", lambda v, s: mix(v, reach["elbow"], bend))
    pose["neck_flex"] = pose["neck_flex"] + rng.uniform(0, 10) * p
    return pose, None


def _one_pass(t) -> tuple[np.ndarray, np.ndarray]:
    """(u, active): progress 0..1 through each repetition, and 1 while one is under way."""
    u = t.cycle - np.floor(t.cycle)
    return u, ((t.cycle > 0) & (t.cycle < t.reps)).astype(float)


def _swipe(pose, t, rng, start: float, end: float):
    """The right arm lifts out in front, sweeps level through the arm plane from `start` to `end`
    degrees (passing straight ahead, where real swipes reach farthest), and drops: one swipe per
    repetition, the sweep done before the arm comes down."""
    u, active = _one_pass(t)
    up = active * smoothstep(u / 0.25) * (1.0 - smoothstep((u - 0.78) / 0.22))
    sweep = smoothstep((u - 0.22) / 0.5)
    pose["right_arm_plane"] = mix(pose["right_arm_plane"], start + (end - start) * sweep, up)
    pose["right_arm_elev"] = mix(pose["right_arm_elev"], rng.uniform(65, 100) * t.amp, up)
    pose["right_elbow"] = mix(pose["right_elbow"], rng.uniform(5, 40), up)
    pose["right_arm_rot"] = mix(pose["right_arm_rot"], rng.uniform(-20, 20), up)
    pose["trunk_twist"] = pose["trunk_twist"] + up * rng.uniform(0, 10) * np.sign(end - start) * (sweep - 0.5)
    return pose, None


def swipe_left(pose, t, rng, body):
    """The right arm sweeps from in front of the right shoulder across to the subject's left."""
    return _swipe(pose, t, rng, rng.uniform(10, 70), rng.uniform(-60, -30))


def swipe_right(pose, t, rng, body):
    """The right arm sweeps from straight ahead (or a little across) out to the subject's right."""
    return _swipe(pose, t, rng, rng.uniform(-35, 10), rng.uniform(50, 100))


def cross_arms(pose, t, rng, body):
    """Forearms folded across the chest, each hand on the other arm between elbow and shoulder,
    held a moment."""
    w = t.env
    hand, elbow, shoulder = (LAYOUT.index(name) for name in ("right_hand", "left_elbow", "left_shoulder"))
    spot = rng.uniform(0.1, 0.7)  # hand near the elbow (0) or most of the way up the upper arm (1)
    fold = best_static_pose(body, {}, {"arm_plane": np.arange(-30.0, 31.0, 6.0), "arm_elev": np.arange(15.0, 56.0, 8.0),
                                       "arm_rot": np.arange(-90.0, -29.0, 15.0), "elbow": np.arange(100.0, 151.0, 10.0)},
                            lambda p: np.linalg.norm(p[:, hand] - p[:, elbow] - spot * (p[:, shoulder] - p[:, elbow]),
                                                     axis=-1))
    for name, value in fold.items():
        both(pose, name, lambda v, s, value=value: mix(v, value + rng.uniform(-4, 4), w))
    return pose, None


def throw(pose, t, rng, body):
    """An overhand throw with the right arm: wind up out to the side with the elbow bent, whip
    the hand forward past the head, follow through in front and down; the left arm reaches
    forward for balance. (Real throws pass the hand high and forward, 110-140 degrees up.)"""
    u, active = _one_pass(t)
    stages = (  # (weight of this stage, its arm angles)
        (active * smoothstep(u / 0.35), {"arm_elev": rng.uniform(70, 150), "arm_plane": rng.uniform(85, 125),
                                         "elbow": rng.uniform(80, 120), "arm_rot": rng.uniform(60, 90)}),
        (active * smoothstep((u - 0.35) / 0.15), {"arm_elev": rng.uniform(110, 145), "arm_plane": rng.uniform(15, 45),
                                                   "elbow": rng.uniform(50, 90), "arm_rot": rng.uniform(20, 60)}),
        (active * smoothstep((u - 0.5) / 0.15), {"arm_elev": rng.uniform(70, 100), "arm_plane": rng.uniform(-10, 25),
                                                  "elbow": rng.uniform(0, 30), "arm_rot": rng.uniform(-10, 30)}),
    )
    back = smoothstep((u - 0.65) / 0.35) * active + (1.0 - active)
    for name in stages[0][1]:
        rest = pose[f"right_{name}"]
        aim = rest
        for weight, angles in stages:
            aim = mix(aim, angles[name], weight)
        pose[f"right_{name}"] = mix(aim, rest, back)
    wind, release = stages[0][0], stages[1][0]
    twist = rng.uniform(10, 30)
    pose["trunk_twist"] = pose["trunk_twist"] - twist * (wind - 2.0 * release) * (1.0 - back)
    balance = (wind + release) * (1.0 - back) / 2.0
    pose["left_arm_elev"] = mix(pose["left_arm_elev"], rng.uniform(20, 60), balance)
    pose["left_arm_plane"] = mix(pose["left_arm_plane"], rng.uniform(0, 40), balance)
    return pose, None
