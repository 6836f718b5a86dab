"""Whole-body actions: legs and trunk (with the arms people move along), and how a leg leaves
the floor without its foot gliding. Same contract as `arm_motions`; a motion that jumps or
bounces returns its lift off the floor in metres per frame.
"""

from __future__ import annotations

import numpy as np

from cocodiff.data.embedded.body import Body
from cocodiff.data.embedded.timing import TAU, both, mix, smoothstep


def swing_knee(body: Body, side: str, hip: np.ndarray, knee: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Knee flexion for a leg leaving the floor without its foot gliding over it, and how far up it is.

    Bending knee and hip alike would slide the foot forward while it barely rises. With
    knee = hip * (1 + thigh / shin) the foot stays under the hip and lifts straight up; once the
    thigh is 25 degrees up the action's own knee curve takes over.
    """
    ratio = 1.0 + body.length(f"{side}_knee") / body.length(f"{side}_ankle")
    up = smoothstep(hip / 25.0)
    return (1.0 - up) * ratio * hip + up * knee, up


def squat(pose, t, rng, body):
    """Hips down and back, knees forward over the toes; most people hold their arms out in front
    for balance for the whole set, some let them hang or put their hands on their hips."""
    p = t.stroke()
    hip = rng.uniform(45, 110) * t.amp * p
    knee = hip + rng.uniform(20, 60) * p  # the same for both legs, or one foot would lift
    both(pose, "hip_flex", lambda v, s: v + hip)
    both(pose, "knee", lambda v, s: v + knee)
    pose["trunk_flex"] = pose["trunk_flex"] + rng.uniform(15, 45) * p
    arms = rng.choice(["forward", "forward", "forward", "hang", "hips"])
    held = t.env  # up before the first repetition, down after the last
    if arms == "forward":
        both(pose, "arm_plane", lambda v, s: mix(v, rng.uniform(0, 25), held))
        both(pose, "arm_elev", lambda v, s: mix(v, rng.uniform(70, 100), held))
        both(pose, "elbow", lambda v, s: mix(v, rng.uniform(0, 30), held))
    elif arms == "hips":
        both(pose, "arm_plane", lambda v, s: mix(v, rng.uniform(80, 100), held))
        both(pose, "arm_elev", lambda v, s: mix(v, rng.uniform(25, 45), held))
        both(pose, "elbow", lambda v, s: mix(v, rng.uniform(80, 110), held))
    return pose, None


def jumping_jacks(pose, t, rng, body):
    # 0 feet together, 1 spread and arms up; changes while airborne, settles before each landing
    open_ = t.env * smoothstep(0.5 - 0.5 * np.cos(TAU * t.cycle))
    air = np.sin(TAU * t.cycle) ** 2 * t.env  # off the floor between the two stances
    top = np.minimum(rng.uniform(145, 178) * t.amp, 180.0)
    both(pose, "arm_plane", lambda v, s: mix(v, rng.uniform(75, 100), open_))
    both(pose, "arm_elev", lambda v, s: mix(v, top, open_))
    both(pose, "arm_rot", lambda v, s: mix(v, 50.0, open_))
    spread = rng.uniform(12, 22) * t.amp
    both(pose, "hip_abd", lambda v, s: v + spread * open_)
    bend = rng.uniform(10, 30)
    both(pose, "hip_flex", lambda v, s: v + 0.5 * bend * (t.env - air))
    both(pose, "knee", lambda v, s: v + bend * (t.env - air))
    both(pose, "foot_pitch", lambda v, s: v - 25 * air)
    return pose, rng.uniform(0.05, 0.12) * t.amp * air


def kick_right_leg(pose, t, rng, body):
    p = t.stroke()
    u = t.cycle - np.floor(t.cycle)
    extend = np.exp(-((u - t.rise * (1 - t.hold) - t.hold / 2) / 0.15) ** 2)  # leg straight at the top
    hip = rng.uniform(60, 95) * t.amp * p
    knee, up = swing_knee(body, "right", hip, rng.uniform(70, 100) * np.sqrt(p) * (1.0 - 0.95 * extend))
    pose["right_hip_flex"] = pose["right_hip_flex"] + hip
    pose["right_knee"] = pose["right_knee"] + knee
    pose["right_foot_pitch"] = pose["right_foot_pitch"] - rng.uniform(10, 35) * p * up
    pose["left_knee"] = pose["left_knee"] + rng.uniform(0, 12) * p
    pose["trunk_flex"] = pose["trunk_flex"] - rng.uniform(3, 12) * p
    both(pose, "elbow", lambda v, s: mix(v, rng.uniform(60, 110), np.sqrt(p)))
    both(pose, "arm_elev", lambda v, s: mix(v, rng.uniform(15, 40), np.sqrt(p)))
    return pose, None


def bow(pose, t, rng, body):
    p = t.stroke()
    depth = rng.uniform(35, 75) * t.amp
    pose["trunk_flex"] = pose["trunk_flex"] + depth * p
    pose["neck_flex"] = pose["neck_flex"] + rng.uniform(-5, 20) * p
    hang = rng.uniform(0.2, 0.9) * depth  # the arms swing forward a little as the trunk tips
    both(pose, "arm_plane", lambda v, s: mix(v, rng.uniform(0, 15), p))
    both(pose, "arm_elev", lambda v, s: mix(v, hang, p))
    return pose, None


MARCH_STYLES = {  # hip lift, arm swing, elbow, tempo multiplier, bounce (m): walk, march or jog in place
    "walk": ((15, 35), (15, 40), (5, 35), (0.9, 1.2), 0.0),
    "march": ((35, 70), (15, 35), (20, 50), (0.9, 1.1), 0.0),
    "jog": ((25, 55), (20, 45), (70, 105), (1.5, 2.1), 0.035),
}


def march_in_place(pose, t, rng, body):
    """Knees up in turn, the opposite arm swinging forward with each: walking, marching or jogging
    on the spot (faster, elbows bent, a small bounce)."""
    w = t.env
    hips, swings, elbows, tempo, bounce = MARCH_STYLES[rng.choice(list(MARCH_STYLES))]
    lift = rng.uniform(*hips) * t.amp
    knee_ratio = rng.uniform(1.2, 1.6)
    swing = rng.uniform(*swings) * t.amp
    speed = rng.uniform(*tempo)
    phase = TAU * t.cycle * speed + t.phase
    for side, offset in (("right", 0.0), ("left", np.pi)):
        stride = np.sin(phase + offset)
        hip = lift * w * np.maximum(stride, 0.0) ** 1.5
        knee, up = swing_knee(body, side, hip, knee_ratio * hip)
        pose[f"{side}_hip_flex"] = pose[f"{side}_hip_flex"] + hip
        pose[f"{side}_knee"] = pose[f"{side}_knee"] + knee
        pose[f"{side}_foot_pitch"] = pose[f"{side}_foot_pitch"] - 15 * up * hip / lift
        # The opposite arm swings forward with each knee.
        pose[f"{side}_arm_plane"] = mix(pose[f"{side}_arm_plane"], rng.uniform(-10, 15), w)
        pose[f"{side}_arm_elev"] = mix(pose[f"{side}_arm_elev"], rng.uniform(0, 10) - swing * stride, w)
        pose[f"{side}_elbow"] = mix(pose[f"{side}_elbow"], rng.uniform(*elbows) + 0.3 * swing * stride, w)
    pose["trunk_flex"] = pose["trunk_flex"] + w * rng.uniform(0, 8)
    return pose, (bounce * rng.uniform(0.5, 1.5) * w * np.abs(np.sin(phase)) if bounce else None)


def bend_sideways(pose, t, rng, body):
    first = 1.0 if rng.random() < 0.5 else -1.0  # lean right first, or left first
    lean = first * np.sin(TAU * t.cycle) * (t.cycle < t.reps)
    pose["trunk_side"] = pose["trunk_side"] + rng.uniform(18, 35) * t.amp * lean
    if rng.random() < 0.6:  # the arm on the far side sweeps overhead
        top = rng.uniform(140, 170)
        pose["left_arm_elev"] = mix(pose["left_arm_elev"], top, np.maximum(lean, 0.0))
        pose["right_arm_elev"] = mix(pose["right_arm_elev"], top, np.maximum(-lean, 0.0))
        both(pose, "arm_rot", lambda v, s: v + 40 * np.abs(lean))
    return pose, None


def _seated(pose, rng, weight: np.ndarray, lean: np.ndarray):
    """Move towards sitting on a chair by `weight` (0 standing, 1 seated), leaning forward by
    `lean` (0..1, most while the weight passes over the feet); hands come to rest on the thighs."""
    hip = rng.uniform(75, 100)
    knee = hip + rng.uniform(-5, 15)  # shins about vertical: the feet stay where they stood
    both(pose, "hip_flex", lambda v, s: v + hip * weight)
    both(pose, "knee", lambda v, s: v + knee * weight)
    pose["trunk_flex"] = pose["trunk_flex"] + rng.uniform(0, 12) * weight + rng.uniform(20, 40) * lean
    both(pose, "arm_plane", lambda v, s: mix(v, rng.uniform(0, 25), weight))
    both(pose, "arm_elev", lambda v, s: mix(v, rng.uniform(15, 40), weight))
    both(pose, "elbow", lambda v, s: mix(v, rng.uniform(30, 80), weight))
    return pose


def sit_down(pose, t, rng, body):
    """From standing to sitting on a chair (which the sensor does not see), and staying seated."""
    p = smoothstep(np.clip(t.cycle, 0.0, 1.0))
    return _seated(pose, rng, p, np.sin(np.pi * p)), None


def stand_up(pose, t, rng, body):
    """From sitting to standing: lean forward, push up, and stay standing."""
    p = 1.0 - smoothstep(np.clip(t.cycle, 0.0, 1.0))
    return _seated(pose, rng, p, np.sin(np.pi * p)), None
