"""The four input streams of the CTR-GCN recipe: joint, bone, joint motion, bone motion.

Each keeps the (M, T, V, C) shape, so the same backbone reads any of them. Absent joints
(all-zero coordinates) never produce a value: a bone with an absent end, and a motion step into
or out of an absent joint, are zero. `keypoint_score` is left as it is.
"""

from __future__ import annotations

import numpy as np

from cocodiff.data.layouts import Layout
from cocodiff.data.sample import Sample
from cocodiff.data.transforms.presence import check_layout, joint_present, keypoint_of
from cocodiff.errors import CocodiffError

MODALITIES = ("joint", "bone", "joint_motion", "bone_motion")


def to_bone(sample: Sample, layout: Layout) -> Sample:
    """Each joint minus its parent in `layout` (the vector from parent to joint); the root's
    bone is zero, and so is every bone with an absent end."""
    keypoint = keypoint_of(sample)
    check_layout(keypoint, layout)
    parents = np.array(layout.parents)
    parents_or_self = np.where(parents < 0, np.arange(layout.num_joints), parents)
    present = joint_present(keypoint)
    valid = present & present[:, :, parents_or_self] & (parents >= 0)
    bones = np.where(valid[..., None], keypoint - keypoint[:, :, parents_or_self], 0.0)
    result = dict(sample)
    result["keypoint"] = bones.astype(np.float32)
    return result


def to_motion(sample: Sample) -> Sample:
    """x[t + 1] - x[t] for every frame; zero in the last frame and wherever the joint is absent
    in either of the two frames."""
    keypoint = keypoint_of(sample)
    present = joint_present(keypoint)
    motion = np.zeros_like(keypoint)
    valid = present[:, 1:] & present[:, :-1]
    motion[:, :-1] = np.where(valid[..., None], keypoint[:, 1:] - keypoint[:, :-1], 0.0)
    result = dict(sample)
    result["keypoint"] = motion
    return result


def append_score(sample: Sample) -> Sample:
    """`keypoint_score` as one more channel: (M, T, V, C) -> (M, T, V, C + 1), as ST-GCN feeds
    2D pose (x, y, confidence). Absent joints have score 0, so they stay all-zero."""
    keypoint = keypoint_of(sample)
    score = sample.get("keypoint_score")
    if score is None:
        raise CocodiffError("data.use_score needs 'keypoint_score' in every sample (2D pose data); this one has none")
    score = np.asarray(score, dtype=np.float32)
    if score.shape != keypoint.shape[:3]:
        raise CocodiffError(f"'keypoint_score' shape {score.shape} does not match keypoint {keypoint.shape[:3]}")
    result = dict(sample)
    result["keypoint"] = np.concatenate([keypoint, score[..., None]], axis=-1).astype(np.float32)
    return result


def to_modality(sample: Sample, layout: Layout, name: str) -> Sample:
    """The stream called `name`, one of `MODALITIES`."""
    if name == "joint":
        keypoint = keypoint_of(sample)
        check_layout(keypoint, layout)
        result = dict(sample)
        result["keypoint"] = keypoint.copy()
        return result
    if name == "bone":
        return to_bone(sample, layout)
    if name == "joint_motion":
        check_layout(keypoint_of(sample), layout)
        return to_motion(sample)
    if name == "bone_motion":
        return to_motion(to_bone(sample, layout))
    raise CocodiffError(f"unknown modality {name!r}; valid modalities: {', '.join(MODALITIES)}")
