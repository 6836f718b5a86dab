"""When an action happens inside a clip, and the small curve tools every motion uses.

`make_timing` draws a clip's tempo, repetitions and idle time before and after; `Timing` turns
them into the curves a motion reads (`cycle`, `env`, `stroke()`, `wave()`). `idle_pose` is the
person's posture with a slow sway. `mix`, `both` and `smoothstep` are the verbs motions are
written in. See `actions` for the two kinds of timing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

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
        rising = smoothstep(u / up)
        falling = 1.0 - smoothstep((u - up - self.hold) / down)
        return np.where(u < up + self.hold, rising, falling)

    def wave(self, offset: float = 0.0) -> np.ndarray:
        return np.sin(TAU * self.cycle + self.phase + offset)


def smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def mix(value: np.ndarray, target, weight: np.ndarray) -> np.ndarray:
    return value + weight * (target - value)


def both(pose: Angles, name: str, func) -> None:
    for side in ("right", "left"):
        pose[f"{side}_{name}"] = func(pose[f"{side}_{name}"], side)


def smooth_noise(rng: np.random.Generator, frames: int, fps: float, slowest_s: float = 3.0) -> np.ndarray:
    """A slow random curve of about unit amplitude: a few sines with random periods and phases."""
    periods, phases = rng.uniform(slowest_s / 3, slowest_s, 3), rng.uniform(0, TAU, 3)
    t = np.arange(frames)[:, None] / fps
    return np.sin(TAU * t / periods + phases).sum(axis=1) / np.sqrt(1.5)


def make_timing(action, rng: np.random.Generator, fps: float, frame_range: tuple[int, int]) -> Timing:
    """Draw tempo, repetitions, idle time before and after, and fit it all in `frame_range`."""
    shortest, longest = frame_range
    period = rng.uniform(*action.period) * fps
    reps = int(rng.integers(action.reps[0], action.reps[1] + 1))
    ramp = action.ramp * fps * rng.uniform(0.8, 1.25)
    before, after = rng.uniform(0.05, 0.5) * fps, rng.uniform(0.05, 0.5) * fps
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
        env = smoothstep((index - before) / ramp) * (1.0 - smoothstep((index - start - reps * period) / ramp))
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
