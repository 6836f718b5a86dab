"""A Kinect-v2-like body: proportions, joint angles, forward kinematics, feet on the floor.

The body frame is the camera frame of a subject who stands at the origin and faces the camera:
metres, +y up, +z away from the camera (so towards the subject's back) and +x to the camera's
left, which is the subject's RIGHT. Right-side bones below point to +x; their left twins are the
same vectors with x negated, so left and right cannot be swapped by a sign slip in one place.

A pose is a set of anatomical angles in degrees (`angle_names()`), one value per frame:

- trunk: `trunk_flex` (bow forward), `trunk_side` (lean to the subject's right), `trunk_twist`
  (turn the shoulders to the subject's left, right shoulder forward), `neck_flex` (chin down);
- per side: `arm_elev` (how far the arm is lifted from hanging; negative = behind the body)
  in the plane `arm_plane` (0 = straight ahead, 90 = out to the side), `arm_rot` (outward turn
  of the upper arm about its own axis), `elbow` and `knee` flexion, `wrist` flexion,
  `hip_flex`, `hip_abd` (leg out to the side), and `foot_pitch` (the foot's pitch against the
  floor: 0 flat, negative = toes down). The ankle follows from knee, hip and foot pitch.

Every angle is clamped to `LIMITS`, a human range of motion, so no action can bend an elbow or
knee backwards. Rotations are stored per bone (keyed by the joint the bone ends at) rather than
per joint, so bending the spine does not tilt the hips hanging off the same pelvis joint.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Callable, Mapping

import numpy as np

from cocodiff.data.layouts import NTU25

LAYOUT = NTU25
SIDES = {"right": 1.0, "left": -1.0}  # x sign of each side in the body frame

# Rest pose (standing, arms hanging, palms facing the thighs): for each bone, named by the joint
# it ends at without its side, the direction on the subject's right side and the length as a
# fraction of body height. Kinect joints are not anatomical landmarks: the ratios follow what a
# Kinect v2 reports (short hip bones, a hand joint a few cm past the wrist).
SEGMENTS: Mapping[str, tuple[tuple[float, float, float], float]] = MappingProxyType({
    "spine_mid": ((0.0, 1.0, 0.0), 0.165),
    "spine_shoulder": ((0.0, 1.0, 0.0), 0.125),
    "neck": ((0.0, 1.0, -0.05), 0.045),
    "head": ((0.0, 1.0, -0.1), 0.075),
    "shoulder": ((1.0, -0.2, 0.0), 0.09),
    "elbow": ((0.0, -1.0, 0.0), 0.155),
    "wrist": ((0.0, -1.0, 0.0), 0.14),
    "hand": ((0.0, -1.0, 0.0), 0.035),
    "hand_tip": ((0.0, -1.0, 0.0), 0.03),
    "thumb": ((-0.35, -0.45, -0.8), 0.025),
    "hip": ((1.0, -0.25, 0.0), 0.048),
    "knee": ((0.0, -1.0, 0.0), 0.23),
    "ankle": ((0.0, -1.0, 0.0), 0.23),
    "foot": ((0.0, -0.45, -0.9), 0.06),
})
ANKLE_HEIGHT = 0.045  # ankle joint above the floor, fraction of height
LIMB_GROUPS = {"arm": ("elbow", "wrist", "hand", "hand_tip", "thumb"), "leg": ("knee", "ankle", "foot"),
               "width": ("shoulder", "hip")}

TRUNK_LIMITS = {"trunk_flex": (-30.0, 90.0), "trunk_side": (-40.0, 40.0), "trunk_twist": (-45.0, 45.0),
                "neck_flex": (-40.0, 50.0)}
SIDE_LIMITS = {"arm_elev": (-50.0, 180.0), "arm_plane": (-40.0, 130.0), "arm_rot": (-80.0, 90.0),
               "elbow": (0.0, 150.0), "wrist": (-60.0, 60.0), "hip_flex": (-20.0, 120.0),
               "hip_abd": (-15.0, 45.0), "knee": (0.0, 150.0), "foot_pitch": (-60.0, 40.0)}
ANKLE_LIMITS = (-50.0, 35.0)  # relative to the shin: dorsiflexion positive
LIMITS = MappingProxyType({**TRUNK_LIMITS, **{f"{side}_{name}": limits for side in SIDES
                                              for name, limits in SIDE_LIMITS.items()}})


def angle_names() -> tuple[str, ...]:
    return tuple(LIMITS)


def _side_of(joint: str) -> tuple[float, str]:
    for side, sign in SIDES.items():
        if joint.startswith(side + "_"):
            return sign, joint[len(side) + 1:]
    return 0.0, joint


def _tree() -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The layout's tree re-rooted at the pelvis (spine_base): joint order and parent per joint."""
    root = LAYOUT.index("spine_base")
    neighbours: dict[int, list[int]] = {j: [] for j in range(LAYOUT.num_joints)}
    for child, parent in LAYOUT.bones:
        neighbours[child].append(parent)
        neighbours[parent].append(child)
    order, parent = [root], [-1] * LAYOUT.num_joints
    for joint in order:  # breadth-first: parents always come before children
        for other in neighbours[joint]:
            if other != root and parent[other] == -1:
                parent[other] = joint
                order.append(other)
    return tuple(order), tuple(parent)


ORDER, PARENT = _tree()


@dataclass(frozen=True, eq=False)
class Body:
    """One simulated person: fixed bone vectors (rest pose) and a habitual idle posture."""

    height: float
    offsets: np.ndarray  # (V, 3): rest vector from the FK parent to each joint (zero at the root)
    ankle_height: float
    posture: Mapping[str, float]  # this person's idle angles (degrees); missing ones are 0

    @property
    def foot_height(self) -> float:
        """Height of the foot joint (ball of the foot) above the floor when standing flat."""
        return self.ankle_height + float(self.offsets[LAYOUT.index("left_foot"), 1])

    def length(self, joint: str) -> float:
        """Length of the bone from `joint`'s FK parent to `joint`."""
        return float(np.linalg.norm(self.offsets[LAYOUT.index(joint)]))

    def bone_lengths(self) -> np.ndarray:
        """Length of every layout bone, in `LAYOUT.bones` order."""
        return np.array([np.linalg.norm(self.offsets[c] if PARENT[c] == p else self.offsets[p])
                         for c, p in LAYOUT.bones])


def draw_body(rng: np.random.Generator, height_range: tuple[float, float] = (1.5, 1.95)) -> Body:
    """A random adult: height, per-segment proportions (left = right) and idle posture."""
    height = float(rng.uniform(*height_range))
    group_scale = {group: 1.0 + float(np.clip(rng.normal(0.0, 0.035), -0.08, 0.08)) for group in LIMB_GROUPS}
    group_scale["width"] = 1.0 + float(np.clip(rng.normal(0.0, 0.06), -0.12, 0.12))
    scale = {}
    for segment in SEGMENTS:
        group = next((g for g, members in LIMB_GROUPS.items() if segment in members), None)
        scale[segment] = group_scale.get(group, 1.0) * (1.0 + float(np.clip(rng.normal(0.0, 0.04), -0.1, 0.1)))
    offsets = np.zeros((LAYOUT.num_joints, 3))
    for joint in range(LAYOUT.num_joints):
        if PARENT[joint] < 0:
            continue
        sign, segment = _side_of(LAYOUT.joints[joint])
        direction, ratio = SEGMENTS[segment]
        vector = np.array(direction) / np.linalg.norm(direction)
        if sign < 0:
            vector[0] = -vector[0]  # the left side mirrors the right through x = 0
        offsets[joint] = vector * ratio * scale[segment] * height
    posture = {"trunk_flex": rng.uniform(-3, 5), "neck_flex": rng.uniform(-5, 12)}
    arm_elev, elbow = rng.uniform(4, 12), rng.uniform(5, 20)
    stance, knee = rng.uniform(0, 2), rng.uniform(0, 6)  # stance width comes mostly from the hips
    for side in SIDES:  # a habit, nearly symmetric
        posture.update({f"{side}_arm_elev": arm_elev + rng.uniform(-2, 2), f"{side}_arm_plane": 90.0,
                        f"{side}_elbow": elbow + rng.uniform(-3, 3), f"{side}_hip_abd": stance,
                        f"{side}_knee": knee})
    return Body(height, offsets, ANKLE_HEIGHT * height * scale["ankle"],
                MappingProxyType({k: float(v) for k, v in posture.items()}))


def rotation(axis: int, degrees: np.ndarray) -> np.ndarray:
    """(T, 3, 3) right-handed rotations about axis 0 (x), 1 (y) or 2 (z)."""
    angle = np.radians(np.asarray(degrees, dtype=float))
    c, s = np.cos(angle), np.sin(angle)
    i, j = ((1, 2), (2, 0), (0, 1))[axis]
    result = np.zeros(angle.shape + (3, 3))
    result[..., axis, axis] = 1.0
    result[..., i, i] = c
    result[..., j, j] = c
    result[..., i, j] = -s
    result[..., j, i] = s
    return result


def clamp(angles: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every angle inside its human range (missing angles are zero)."""
    frames = len(next(iter(angles.values())))
    zeros = np.zeros(frames)
    return {name: np.minimum(np.maximum(np.asarray(angles.get(name, zeros), dtype=float), low), high)
            for name, (low, high) in LIMITS.items()}


def ankle_angle(angles: Mapping[str, np.ndarray], side: str) -> np.ndarray:
    """Ankle flexion that gives the requested foot pitch, within the ankle's range."""
    relative = angles[f"{side}_knee"] - angles[f"{side}_hip_flex"] + angles[f"{side}_foot_pitch"]
    return np.clip(relative, *ANKLE_LIMITS)


def bone_rotations(angles: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Angles (already clamped) -> rotation of each bone relative to its parent bone, by end joint.

    Rotating about +x swings a hanging limb forward (to -z), so flexions use +x for arms and
    hips and -x for the knee; sideways moves use the side's x sign.
    """
    rx = lambda d: rotation(0, d)  # noqa: E731 - three short aliases keep the table readable
    ry = lambda d: rotation(1, d)  # noqa: E731
    rz = lambda d: rotation(2, d)  # noqa: E731
    half = {k: angles[k] / 2 for k in ("trunk_flex", "trunk_side", "trunk_twist", "neck_flex")}
    trunk = ry(half["trunk_twist"]) @ rz(-half["trunk_side"]) @ rx(-half["trunk_flex"])
    result = {"spine_mid": trunk, "spine_shoulder": trunk,
              "neck": rx(-half["neck_flex"]), "head": rx(-half["neck_flex"])}
    for side, sign in SIDES.items():
        a = {name: angles[f"{side}_{name}"] for name in SIDE_LIMITS}
        plane = -sign * a["arm_plane"]
        # The shoulder girdle rises a little once the arm goes above horizontal.
        result[f"{side}_shoulder"] = rz(sign * 0.2 * np.maximum(a["arm_elev"] - 90.0, 0.0))
        result[f"{side}_elbow"] = ry(plane) @ rx(a["arm_elev"]) @ ry(-plane) @ ry(-sign * a["arm_rot"])
        result[f"{side}_wrist"] = rx(a["elbow"])
        result[f"{side}_hand"] = rx(a["wrist"])
        result[f"{side}_knee"] = rz(sign * a["hip_abd"]) @ rx(a["hip_flex"])
        result[f"{side}_ankle"] = rx(-a["knee"])
        result[f"{side}_foot"] = rx(ankle_angle(angles, side))
    return result


def forward_kinematics(body: Body, rotations: Mapping[str, np.ndarray], frames: int) -> np.ndarray:
    """(T, V, 3) joint positions with the pelvis at the origin."""
    positions = np.zeros((frames, LAYOUT.num_joints, 3))
    frames_of = np.zeros((LAYOUT.num_joints, frames, 3, 3))
    frames_of[ORDER[0]] = np.eye(3)
    for joint in ORDER[1:]:
        parent = PARENT[joint]
        local = rotations.get(LAYOUT.joints[joint])
        frames_of[joint] = frames_of[parent] if local is None else frames_of[parent] @ local
        positions[:, joint] = positions[:, parent] + frames_of[joint] @ body.offsets[joint]
    return positions


def best_static_pose(body: Body, fixed: Mapping[str, float], grid: Mapping[str, np.ndarray],
                     cost: Callable[[np.ndarray], np.ndarray]) -> dict[str, float]:
    """Search a grid of angles for the still pose that minimises `cost((N, V, 3)) -> (N,)`.

    Used where a hand must reach a spot on this particular body (palms meeting, hands on the
    head), which fixed angles cannot do for every proportion. `fixed` and `grid` use full angle
    names; a grid name without a side prefix sets both sides alike.
    """
    values = np.meshgrid(*grid.values(), indexing="ij")
    count = values[0].size
    angles = {name: np.full(count, float(fixed.get(name, 0.0))) for name in LIMITS}
    for name, value in zip(grid, values):
        for full in ((name,) if name in LIMITS else (f"{side}_{name}" for side in SIDES)):
            angles[full] = value.ravel().astype(float)
    angles = clamp(angles)
    best = int(np.argmin(cost(forward_kinematics(body, bone_rotations(angles), count))))
    return {name: float(value.ravel()[best]) for name, value in zip(grid, values)}


def stand_on_floor(positions: np.ndarray, body: Body, lift: np.ndarray | None = None) -> np.ndarray:
    """Move the body so the supporting foot stays put on the floor (y = 0) at its first-frame spot.

    Each frame the lower foot carries the weight (a soft choice, so a change of stance is
    smooth): the body shifts so that foot keeps its horizontal place and its sole touches the
    floor. `lift` (metres per frame) raises the whole body off the floor, for jumps.
    """
    contact = {}
    for side in SIDES:
        ankle = positions[:, LAYOUT.index(f"{side}_ankle"), 1] - body.ankle_height
        ball = positions[:, LAYOUT.index(f"{side}_foot"), 1] - body.foot_height
        contact[side] = np.minimum(ankle, ball)
    ground = np.minimum(contact["right"], contact["left"])
    weight_right = 1.0 / (1.0 + np.exp(np.clip((contact["right"] - contact["left"]) / 0.003, -50, 50)))
    shift = np.zeros((len(positions), 3))
    for side, weight in (("right", weight_right), ("left", 1.0 - weight_right)):
        foot = positions[:, [LAYOUT.index(f"{side}_ankle"), LAYOUT.index(f"{side}_foot")]].mean(axis=1)
        shift[:, [0, 2]] += weight[:, None] * (foot[0, [0, 2]] - foot[:, [0, 2]])
    shift[:, 1] = -ground + (0.0 if lift is None else lift)
    return positions + shift[:, None, :]


def pose_positions(body: Body, angles: Mapping[str, np.ndarray], lift: np.ndarray | None = None) -> np.ndarray:
    """Angles per frame -> (T, V, 3) body-frame positions, feet on the floor at y = 0."""
    clamped = clamp(angles)
    frames = len(clamped["trunk_flex"])
    positions = forward_kinematics(body, bone_rotations(clamped), frames)
    return stand_on_floor(positions, body, lift)
