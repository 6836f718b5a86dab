"""Joint layouts as data: names, the skeleton tree, and the groups the method pools over.

A layout is everything the rest of the code needs to know about a skeleton format:

- `joints`: joint names in the order the data stores them. Names that start with `left_` or
  `right_` are the subject's own left and right; `mirror` pairs them up by name.
- `parents`: the skeleton as a tree; `parents[root] == -1`. The root is the graph's centre
  (CTR-GCN's choice for the Kinect layouts). Bones point from a joint to its parent, and the
  "inward" graph edges point the same way.
- `parts`: the six body parts (head, left arm, right arm, torso, left leg, right leg) as a
  partition of the joints. Across layouts the convention is the same: the torso is the rigid
  trunk (spine joints, shoulders, hips), arms start below the shoulder, legs below the hip.
- `origin`, `spine`, `shoulders`: which joints pre-normalisation uses. Each is a tuple of joint
  indices that are averaged, so layouts without a pelvis or neck joint (COCO, OpenPose) can use
  the midpoint of the hips or shoulders.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

from cocodiff.errors import CocodiffError

PART_NAMES = ("head", "left_arm", "right_arm", "torso", "left_leg", "right_leg")

Joints = tuple[int, ...]


@dataclass(frozen=True)
class Layout:
    name: str
    joints: tuple[str, ...]
    parents: tuple[int, ...]
    parts: Mapping[str, Joints]
    origin: Joints
    spine: tuple[Joints, Joints]  # (bottom, top)
    shoulders: tuple[Joints, Joints]  # (right, left)
    description: str = ""
    _index: Mapping[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "parts", MappingProxyType(dict(self.parts)))
        object.__setattr__(self, "_index", MappingProxyType({n: i for i, n in enumerate(self.joints)}))

    def __reduce__(self):
        # Built-in layouts travel by name (to DataLoader workers, say); the proxies don't pickle.
        if LAYOUTS.get(self.name) is self:
            return (get_layout, (self.name,))
        return (_layout_from_fields, (self.name, self.joints, self.parents, dict(self.parts), self.origin,
                                      self.spine, self.shoulders, self.description))

    @property
    def num_joints(self) -> int:
        return len(self.joints)

    @property
    def root(self) -> int:
        return self.parents.index(-1)

    @property
    def bones(self) -> tuple[tuple[int, int], ...]:
        """(child, parent) pairs: every edge of the tree once, pointing towards the root."""
        return tuple((child, parent) for child, parent in enumerate(self.parents) if parent >= 0)

    @property
    def mirror(self) -> tuple[int, ...]:
        """The permutation that swaps every left joint with its right twin (centre joints stay)."""
        order = []
        for name in self.joints:
            if name.startswith("left_"):
                twin = "right_" + name[len("left_"):]
            elif name.startswith("right_"):
                twin = "left_" + name[len("right_"):]
            else:
                twin = name
            order.append(self._index[twin])
        return tuple(order)

    @property
    def part_of_joint(self) -> tuple[int, ...]:
        """For every joint, the index (into `PART_NAMES`) of the part it belongs to."""
        owner = [-1] * self.num_joints
        for part_index, part in enumerate(PART_NAMES):
            for joint in self.parts[part]:
                owner[joint] = part_index
        return tuple(owner)

    def index(self, joint_name: str) -> int:
        try:
            return self._index[joint_name]
        except KeyError:
            raise CocodiffError(f"layout {self.name!r} has no joint {joint_name!r}") from None


def _layout_from_fields(name, joints, parents, parts, origin, spine, shoulders, description) -> Layout:
    return Layout(name=name, joints=joints, parents=parents, parts=parts, origin=origin, spine=spine,
                  shoulders=shoulders, description=description)


def _layout(name, description, joints, parents, parts, origin, spine, shoulders) -> Layout:
    """Build a layout from joint *names*, so the tables below read like anatomy."""
    index = {n: i for i, n in enumerate(joints)}

    def ids(*names: str) -> Joints:
        return tuple(index[n] for n in names)

    return Layout(
        name=name,
        description=description,
        joints=tuple(joints),
        parents=tuple(-1 if parents[n] is None else index[parents[n]] for n in joints),
        parts={part: ids(*members) for part, members in parts.items()},
        origin=ids(*origin),
        spine=(ids(*spine[0]), ids(*spine[1])),
        shoulders=(ids(*shoulders[0]), ids(*shoulders[1])),
    )


NTU25 = _layout(
    "ntu25",
    "Kinect v2, 25 joints (NTU RGB+D 60/120)",
    joints=[
        "spine_base", "spine_mid", "neck", "head",
        "left_shoulder", "left_elbow", "left_wrist", "left_hand",
        "right_shoulder", "right_elbow", "right_wrist", "right_hand",
        "left_hip", "left_knee", "left_ankle", "left_foot",
        "right_hip", "right_knee", "right_ankle", "right_foot",
        "spine_shoulder", "left_hand_tip", "left_thumb", "right_hand_tip", "right_thumb",
    ],
    parents={
        "spine_shoulder": None, "spine_mid": "spine_shoulder", "spine_base": "spine_mid",
        "neck": "spine_shoulder", "head": "neck",
        "left_shoulder": "spine_shoulder", "left_elbow": "left_shoulder",
        "left_wrist": "left_elbow", "left_hand": "left_wrist",
        "left_hand_tip": "left_hand", "left_thumb": "left_hand",
        "right_shoulder": "spine_shoulder", "right_elbow": "right_shoulder",
        "right_wrist": "right_elbow", "right_hand": "right_wrist",
        "right_hand_tip": "right_hand", "right_thumb": "right_hand",
        "left_hip": "spine_base", "left_knee": "left_hip", "left_ankle": "left_knee",
        "left_foot": "left_ankle",
        "right_hip": "spine_base", "right_knee": "right_hip", "right_ankle": "right_knee",
        "right_foot": "right_ankle",
    },
    parts={
        "head": ["neck", "head"],
        "left_arm": ["left_elbow", "left_wrist", "left_hand", "left_hand_tip", "left_thumb"],
        "right_arm": ["right_elbow", "right_wrist", "right_hand", "right_hand_tip", "right_thumb"],
        "torso": ["spine_base", "spine_mid", "spine_shoulder", "left_shoulder", "right_shoulder",
                  "left_hip", "right_hip"],
        "left_leg": ["left_knee", "left_ankle", "left_foot"],
        "right_leg": ["right_knee", "right_ankle", "right_foot"],
    },
    origin=["spine_mid"],
    spine=(["spine_base"], ["spine_shoulder"]),
    shoulders=(["right_shoulder"], ["left_shoulder"]),
)

KINECT20 = _layout(
    "kinect20",
    "Kinect v1, 20 joints (NW-UCLA, MSR Action3D and similar)",
    joints=[
        "hip_center", "spine", "shoulder_center", "head",
        "left_shoulder", "left_elbow", "left_wrist", "left_hand",
        "right_shoulder", "right_elbow", "right_wrist", "right_hand",
        "left_hip", "left_knee", "left_ankle", "left_foot",
        "right_hip", "right_knee", "right_ankle", "right_foot",
    ],
    parents={
        "shoulder_center": None, "spine": "shoulder_center", "hip_center": "spine",
        "head": "shoulder_center",
        "left_shoulder": "shoulder_center", "left_elbow": "left_shoulder",
        "left_wrist": "left_elbow", "left_hand": "left_wrist",
        "right_shoulder": "shoulder_center", "right_elbow": "right_shoulder",
        "right_wrist": "right_elbow", "right_hand": "right_wrist",
        "left_hip": "hip_center", "left_knee": "left_hip", "left_ankle": "left_knee",
        "left_foot": "left_ankle",
        "right_hip": "hip_center", "right_knee": "right_hip", "right_ankle": "right_knee",
        "right_foot": "right_ankle",
    },
    parts={
        "head": ["head"],
        "left_arm": ["left_elbow", "left_wrist", "left_hand"],
        "right_arm": ["right_elbow", "right_wrist", "right_hand"],
        "torso": ["hip_center", "spine", "shoulder_center", "left_shoulder", "right_shoulder",
                  "left_hip", "right_hip"],
        "left_leg": ["left_knee", "left_ankle", "left_foot"],
        "right_leg": ["right_knee", "right_ankle", "right_foot"],
    },
    origin=["spine"],
    spine=(["hip_center"], ["shoulder_center"]),
    shoulders=(["right_shoulder"], ["left_shoulder"]),
)

OPENPOSE18 = _layout(
    "openpose18",
    "OpenPose COCO-18, 2D + confidence (Kinetics-Skeleton)",
    joints=[
        "nose", "neck",
        "right_shoulder", "right_elbow", "right_wrist",
        "left_shoulder", "left_elbow", "left_wrist",
        "right_hip", "right_knee", "right_ankle",
        "left_hip", "left_knee", "left_ankle",
        "right_eye", "left_eye", "right_ear", "left_ear",
    ],
    # Hips hang from the shoulders, as in ST-GCN's Kinetics graph: there is no pelvis joint.
    parents={
        "neck": None, "nose": "neck",
        "right_eye": "nose", "left_eye": "nose", "right_ear": "right_eye", "left_ear": "left_eye",
        "right_shoulder": "neck", "right_elbow": "right_shoulder", "right_wrist": "right_elbow",
        "left_shoulder": "neck", "left_elbow": "left_shoulder", "left_wrist": "left_elbow",
        "right_hip": "right_shoulder", "right_knee": "right_hip", "right_ankle": "right_knee",
        "left_hip": "left_shoulder", "left_knee": "left_hip", "left_ankle": "left_knee",
    },
    parts={
        "head": ["nose", "right_eye", "left_eye", "right_ear", "left_ear"],
        "left_arm": ["left_elbow", "left_wrist"],
        "right_arm": ["right_elbow", "right_wrist"],
        "torso": ["neck", "right_shoulder", "left_shoulder", "right_hip", "left_hip"],
        "left_leg": ["left_knee", "left_ankle"],
        "right_leg": ["right_knee", "right_ankle"],
    },
    origin=["right_hip", "left_hip", "neck"],
    spine=(["right_hip", "left_hip"], ["neck"]),
    shoulders=(["right_shoulder"], ["left_shoulder"]),
)

COCO17 = _layout(
    "coco17",
    "COCO keypoints, 17 joints (2D pose estimators)",
    joints=[
        "nose", "left_eye", "right_eye", "left_ear", "right_ear",
        "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
        "left_wrist", "right_wrist", "left_hip", "right_hip",
        "left_knee", "right_knee", "left_ankle", "right_ankle",
    ],
    parents={
        "nose": None, "left_eye": "nose", "right_eye": "nose",
        "left_ear": "left_eye", "right_ear": "right_eye",
        "left_shoulder": "nose", "right_shoulder": "nose",
        "left_elbow": "left_shoulder", "right_elbow": "right_shoulder",
        "left_wrist": "left_elbow", "right_wrist": "right_elbow",
        "left_hip": "left_shoulder", "right_hip": "right_shoulder",
        "left_knee": "left_hip", "right_knee": "right_hip",
        "left_ankle": "left_knee", "right_ankle": "right_knee",
    },
    parts={
        "head": ["nose", "left_eye", "right_eye", "left_ear", "right_ear"],
        "left_arm": ["left_elbow", "left_wrist"],
        "right_arm": ["right_elbow", "right_wrist"],
        "torso": ["left_shoulder", "right_shoulder", "left_hip", "right_hip"],
        "left_leg": ["left_knee", "left_ankle"],
        "right_leg": ["right_knee", "right_ankle"],
    },
    origin=["left_hip", "right_hip", "left_shoulder", "right_shoulder"],
    spine=(["left_hip", "right_hip"], ["left_shoulder", "right_shoulder"]),
    shoulders=(["right_shoulder"], ["left_shoulder"]),
)

MEDIAPIPE33 = _layout(
    "mediapipe33",
    "MediaPipe Pose, 33 landmarks (image or metric world coordinates)",
    joints=[
        "nose", "left_eye_inner", "left_eye", "left_eye_outer",
        "right_eye_inner", "right_eye", "right_eye_outer", "left_ear", "right_ear",
        "left_mouth", "right_mouth", "left_shoulder", "right_shoulder",
        "left_elbow", "right_elbow", "left_wrist", "right_wrist",
        "left_pinky", "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb",
        "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
        "left_heel", "right_heel", "left_foot_index", "right_foot_index",
    ],
    parents={
        "nose": None,
        "left_eye_inner": "nose", "left_eye": "left_eye_inner", "left_eye_outer": "left_eye",
        "left_ear": "left_eye_outer",
        "right_eye_inner": "nose", "right_eye": "right_eye_inner", "right_eye_outer": "right_eye",
        "right_ear": "right_eye_outer",
        "left_mouth": "nose", "right_mouth": "nose",
        "left_shoulder": "nose", "right_shoulder": "nose",
        "left_elbow": "left_shoulder", "left_wrist": "left_elbow",
        "left_pinky": "left_wrist", "left_index": "left_wrist", "left_thumb": "left_wrist",
        "right_elbow": "right_shoulder", "right_wrist": "right_elbow",
        "right_pinky": "right_wrist", "right_index": "right_wrist", "right_thumb": "right_wrist",
        "left_hip": "left_shoulder", "left_knee": "left_hip", "left_ankle": "left_knee",
        "left_heel": "left_ankle", "left_foot_index": "left_ankle",
        "right_hip": "right_shoulder", "right_knee": "right_hip", "right_ankle": "right_knee",
        "right_heel": "right_ankle", "right_foot_index": "right_ankle",
    },
    parts={
        "head": ["nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner",
                 "right_eye", "right_eye_outer", "left_ear", "right_ear", "left_mouth",
                 "right_mouth"],
        "left_arm": ["left_elbow", "left_wrist", "left_pinky", "left_index", "left_thumb"],
        "right_arm": ["right_elbow", "right_wrist", "right_pinky", "right_index", "right_thumb"],
        "torso": ["left_shoulder", "right_shoulder", "left_hip", "right_hip"],
        "left_leg": ["left_knee", "left_ankle", "left_heel", "left_foot_index"],
        "right_leg": ["right_knee", "right_ankle", "right_heel", "right_foot_index"],
    },
    origin=["left_hip", "right_hip", "left_shoulder", "right_shoulder"],
    spine=(["left_hip", "right_hip"], ["left_shoulder", "right_shoulder"]),
    shoulders=(["right_shoulder"], ["left_shoulder"]),
)

LAYOUTS: Mapping[str, Layout] = MappingProxyType(
    {layout.name: layout for layout in (NTU25, KINECT20, OPENPOSE18, COCO17, MEDIAPIPE33)}
)


def get_layout(name: str) -> Layout:
    """The layout called `name`, or a one-line error listing the known ones."""
    try:
        return LAYOUTS[name]
    except KeyError:
        raise CocodiffError(f"unknown layout {name!r}; known layouts: {', '.join(LAYOUTS)}") from None
