"""Layout retargeting: one skeleton layout's joints computed from another's, as data.

A table maps every joint of the target layout to a weighted sum of source joints whose weights
add up to 1: a copy (`{"left_wrist": 1}`), a midpoint (`{"left_hip": .5, "right_hip": .5}`), a
point part-way along a segment, or beyond its end (negative weights). Weights that sum to 1 make
the map commute with translation, rotation and scaling, so it can run in any coordinate frame,
before or after `cocodiff.data.frames.convert_points`, and bone directions survive it.

Presence follows the repository's rule (absent = all zeros): a target joint is present only
where every source joint it is made from is present; otherwise it is zero. A detector's
`keypoint_score` goes along: a target joint's score is the lowest score among its sources.

Joints a target has and a source lacks are synthesised by these rules (the ratios were measured
on the four NTU RGB+D samples in ../shared/data: spine_mid sits 0.57 of the way from spine_base
to spine_shoulder, the neck 0.35 of the way from spine_shoulder to the head, the hand tip 1.7
wrist-to-hand lengths beyond the wrist):

- kinect20 -> ntu25: spine_shoulder = shoulder_center, neck 0.35 of the way to the head,
  hand tips 1.7 wrist-hand lengths from the wrist, thumbs = hands.
- mediapipe33 -> ntu25: spine_base and spine_shoulder = hip and shoulder midpoints, spine_mid
  0.57 up between them, head = midpoint of the ears, neck as above; hand = the mean of wrist,
  index and pinky knuckles, hand tip 1.7 times as far from the wrist, thumb = thumb, foot = foot
  index (the toes).
- mediapipe33 -> coco17: the 17 COCO keypoints exactly (a subset).
- coco17 -> openpose18: neck = shoulder midpoint; openpose18 -> coco17: drop the neck.
- ntu25 -> kinect20: Kinect v2's extra joints dropped, shoulder_center = spine_shoulder.

`retargeting(source, target)` also chains tables (mediapipe33 -> ntu25 -> kinect20, say). No
rule ever takes a left joint from a right one: tests check every table against the names and
the handedness of real bodies.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Mapping

import numpy as np

from cocodiff.data.layouts import Layout, get_layout
from cocodiff.data.sample import Sample
from cocodiff.data.transforms.presence import check_layout, joint_present, keypoint_of
from cocodiff.errors import CocodiffError

Rule = Mapping[str, float]  # source joint name -> weight

SPINE_MID = 0.57  # of the way from spine_base to spine_shoulder
NECK = 0.35  # of the way from spine_shoulder to the head
HAND_TIP = 1.7  # wrist-to-hand lengths from the wrist


def _copy(*names: str) -> dict[str, Rule]:
    return {name: {name: 1.0} for name in names}


def _between(a: str, b: str, t: float) -> Rule:
    """The point a fraction `t` of the way from joint a to joint b (t > 1: beyond b)."""
    return {a: 1.0 - t, b: t} if a != b else {a: 1.0}


def _both(side: str, names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(f"{side}_{name}" for name in names)


def _sides(*names: str) -> tuple[str, ...]:
    return _both("left", names) + _both("right", names)


def _kinect20_to_ntu25() -> dict[str, Rule]:
    rules = {
        "spine_base": {"hip_center": 1.0}, "spine_mid": {"spine": 1.0}, "spine_shoulder": {"shoulder_center": 1.0},
        "neck": _between("shoulder_center", "head", NECK),
        **_copy("head", *_sides("shoulder", "elbow", "wrist", "hand", "hip", "knee", "ankle", "foot")),
    }
    for side in ("left", "right"):
        rules[f"{side}_hand_tip"] = _between(f"{side}_wrist", f"{side}_hand", HAND_TIP)
        rules[f"{side}_thumb"] = {f"{side}_hand": 1.0}
    return rules


def _ntu25_to_kinect20() -> dict[str, Rule]:
    return {"hip_center": {"spine_base": 1.0}, "spine": {"spine_mid": 1.0}, "shoulder_center": {"spine_shoulder": 1.0},
            **_copy("head", *_sides("shoulder", "elbow", "wrist", "hand", "hip", "knee", "ankle", "foot"))}


def _mediapipe33_to_ntu25() -> dict[str, Rule]:
    hips = {"left_hip": 0.5, "right_hip": 0.5}
    shoulders = {"left_shoulder": 0.5, "right_shoulder": 0.5}
    head = {"left_ear": 0.5, "right_ear": 0.5}
    rules: dict[str, Rule] = {
        "spine_base": hips,
        "spine_shoulder": shoulders,
        "spine_mid": _mix(hips, shoulders, SPINE_MID),
        "head": head,
        "neck": _mix(shoulders, head, NECK),
        **_copy(*_sides("shoulder", "elbow", "wrist", "hip", "knee", "ankle", "thumb")),
    }
    for side in ("left", "right"):
        wrist = {f"{side}_wrist": 1.0}
        hand = {f"{side}_wrist": 1 / 3, f"{side}_index": 1 / 3, f"{side}_pinky": 1 / 3}
        rules[f"{side}_hand"] = hand
        rules[f"{side}_hand_tip"] = _mix(wrist, hand, HAND_TIP)
        rules[f"{side}_foot"] = {f"{side}_foot_index": 1.0}
    return rules


def _mix(a: Rule, b: Rule, t: float) -> Rule:
    """(1 - t) * a + t * b, for rules that are themselves weighted sums."""
    out: dict[str, float] = {}
    for rule, weight in ((a, 1.0 - t), (b, t)):
        for name, value in rule.items():
            out[name] = out.get(name, 0.0) + weight * value
    return {name: value for name, value in out.items() if value != 0.0}


_COCO17_BY_NAME = _copy(  # MediaPipe and OpenPose name these joints as COCO does
    "nose", *_sides("eye", "ear", "shoulder", "elbow", "wrist", "hip", "knee", "ankle"))

TABLES: Mapping[tuple[str, str], Mapping[str, Rule]] = MappingProxyType({
    ("kinect20", "ntu25"): _kinect20_to_ntu25(),
    ("ntu25", "kinect20"): _ntu25_to_kinect20(),
    ("mediapipe33", "ntu25"): _mediapipe33_to_ntu25(),
    ("mediapipe33", "coco17"): _COCO17_BY_NAME,
    ("openpose18", "coco17"): _COCO17_BY_NAME,
    ("coco17", "openpose18"): {"neck": {"left_shoulder": 0.5, "right_shoulder": 0.5}, **_COCO17_BY_NAME},
})


@dataclass(frozen=True)
class Retargeting:
    """A compiled table: `weights` (V_target, V_source) and the source joints each target needs.

    `steps` holds more than one table when the map goes through intermediate layouts; each step
    applies its own presence rule, so a joint absent at any stage stays absent."""

    source: Layout
    target: Layout
    steps: tuple[np.ndarray, ...]  # each (V_out, V_in), rows summing to 1

    def apply(self, keypoint: np.ndarray, score: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """(..., V_source, C) coordinates (and (..., V_source) scores) -> the target layout's."""
        points = np.asarray(keypoint, dtype=np.float32)
        score = None if score is None else np.asarray(score, dtype=np.float32)
        for weights in self.steps:
            needed = weights != 0  # (V_out, V_in)
            ok = (joint_present(points)[..., None, :] | ~needed).all(axis=-1)  # (..., V_out)
            points = np.where(ok[..., None], np.matmul(weights, points.astype(np.float64)), 0.0).astype(np.float32)
            if score is not None:
                lowest = np.where(needed, score[..., None, :], np.inf).min(axis=-1)
                score = np.where(ok, lowest, 0.0).astype(np.float32)
        return points, score


def compile_table(source: Layout, target: Layout, table: Mapping[str, Rule]) -> np.ndarray:
    """(V_target, V_source) weights of `table`; a one-line error for a table that does not fit."""
    missing = [name for name in target.joints if name not in table]
    extra = sorted(set(table) - set(target.joints))
    if missing or extra:
        raise CocodiffError(f"retargeting {source.name} -> {target.name}: rules missing for {missing}, "
                            f"unknown target joints {extra}")
    weights = np.zeros((target.num_joints, source.num_joints))
    for row, name in enumerate(target.joints):
        for joint, weight in table[name].items():
            weights[row, source.index(joint)] += weight
        if abs(weights[row].sum() - 1.0) > 1e-9:
            raise CocodiffError(f"retargeting {source.name} -> {target.name}: the weights of {name!r} sum to "
                                f"{weights[row].sum():g}, not 1")
    return weights


@lru_cache(maxsize=None)
def retargeting(source: str, target: str) -> Retargeting:
    """The map from layout `source` to layout `target`: the identity, one table, or the shortest
    chain of tables; a one-line error naming the layouts that can be reached otherwise."""
    source_layout, target_layout = get_layout(source), get_layout(target)
    if source == target:
        return Retargeting(source_layout, target_layout, ())
    path = _shortest_path(source, target)
    if path is None:
        reachable = sorted({b for a, b in TABLES if a == source})
        raise CocodiffError(f"no retargeting from layout {source!r} to {target!r}"
                            + (f"; from {source!r} there are tables to {', '.join(reachable)}" if reachable else ""))
    steps = tuple(compile_table(get_layout(a), get_layout(b), TABLES[a, b]) for a, b in zip(path, path[1:]))
    return Retargeting(source_layout, target_layout, steps)


def _shortest_path(source: str, target: str) -> list[str] | None:
    previous: dict[str, str | None] = {source: None}
    queue = deque([source])
    while queue:
        here = queue.popleft()
        if here == target:
            path = [here]
            while previous[path[-1]] is not None:
                path.append(previous[path[-1]])
            return path[::-1]
        for a, b in TABLES:
            if a == here and b not in previous:
                previous[b] = here
                queue.append(b)
    return None


def retarget(sample: Sample, source: Layout | str, target: Layout | str) -> Sample:
    """The sample in layout `target` (see the module docstring); `keypoint_score` follows."""
    source_name = source if isinstance(source, str) else source.name
    target_name = target if isinstance(target, str) else target.name
    mapping = retargeting(source_name, target_name)
    keypoint = keypoint_of(sample)
    check_layout(keypoint, mapping.source)
    if not mapping.steps:
        return dict(sample)
    result = dict(sample)
    result["keypoint"], score = mapping.apply(keypoint, sample.get("keypoint_score"))
    if score is not None:
        result["keypoint_score"] = score
    return result
