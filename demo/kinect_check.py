"""How close MediaPipe, mapped to the model's layout, comes to a Kinect filming the same take.

NTU RGB+D recorded an RGB video and a Kinect v2 skeleton of every take. Running MediaPipe on the
video, mapping its world landmarks to ntu25 through the runtime's own retargeting and coordinate
conversion, and aligning each frame to the Kinect skeleton by a similarity transform (rotation,
translation, one scale; never a reflection) leaves the error that the mapping and the pose
estimator make together. A mirrored mapping (left and right swapped) cannot be aligned by a
proper rotation and shows up as a large error.

NTU's videos are mirror images of the scene the Kinect saw, so their frames are flipped back
first (`flip=True`); a live camera's frames are never flipped.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from cocodiff.data.frames import KINECT
from cocodiff.data.layouts import get_layout
from cocodiff.data.pipelines import adapt_to
from cocodiff.data.transforms import joint_present
from demo.landmarks import WORLD_SOURCE
from demo.pose_estimator import MediaPipePose
from demo.video import read_video, video_info


def similarity_align(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """`source` (N, 3) moved onto `target` (N, 3) by the least-squares rotation, translation and
    scale (Umeyama's method with the determinant kept at +1: no reflection)."""
    source_mean, target_mean = source.mean(axis=0), target.mean(axis=0)
    a, b = source - source_mean, target - target_mean
    u, singular, vt = np.linalg.svd(b.T @ a)
    sign = np.ones(3)
    sign[-1] = np.sign(np.linalg.det(u @ vt)) or 1.0
    rotation = u @ np.diag(sign) @ vt
    scale = float((singular * sign).sum() / max((a**2).sum(), 1e-12))
    return scale * a @ rotation.T + target_mean


@dataclass(frozen=True)
class AlignmentError:
    joints: tuple[str, ...]
    per_joint_mm: np.ndarray  # (V,) mean over the frames compared
    per_frame_mm: np.ndarray  # (F,) mean over the joints
    frames: int  # frames with a person in both

    @property
    def mean_mm(self) -> float:
        return float(self.per_frame_mm.mean())


def alignment_error(estimated: np.ndarray, kinect: np.ndarray, layout: str = "ntu25") -> AlignmentError:
    """Per-joint error in millimetres of `estimated` (T, V, 3) against `kinect` (T, V, 3), after
    aligning each frame; frames where either has no body are left out."""
    errors = []
    for mine, theirs in zip(estimated, kinect):
        if joint_present(mine).all() and joint_present(theirs).all():
            errors.append(np.linalg.norm(similarity_align(mine, theirs) - theirs, axis=-1) * 1000.0)
    if not errors:
        raise ValueError("no frame has a whole body in both skeletons")
    table = np.stack(errors)
    return AlignmentError(get_layout(layout).joints, table.mean(axis=0), table.mean(axis=1), len(errors))


def mediapipe_as_ntu25(video: str | os.PathLike, pose_model: str | os.PathLike, *, flip: bool,
                       mirrored_mapping: bool = False, width: int = 960) -> np.ndarray:
    """(T, 25, 3) ntu25 joints in the Kinect frame from MediaPipe on every frame of `video`
    (zeros where nobody was found). `mirrored_mapping` swaps the subject's left and right
    landmarks first: the mistake this check exists to catch."""
    swap = list(get_layout("mediapipe33").mirror)
    poses = []
    with MediaPipePose(pose_model, num_poses=1) as pose:
        for timestamp, rgb in read_video(video, flip=flip, size=_scaled(video, width)):
            frame = pose.detect(rgb, timestamp)
            world = frame.world[:1] if frame.num_people else np.zeros((1, 33, 3), np.float32)
            poses.append(world[:, swap] if mirrored_mapping else world)
    world = np.stack(poses, axis=1)  # (1, T, 33, 3)
    mapped = adapt_to({"keypoint": world}, WORLD_SOURCE, "ntu25", KINECT)["keypoint"][0]
    mapped[~joint_present(world[0]).any(axis=-1)] = 0.0  # frames with nobody stay empty
    return mapped


def _scaled(video: str | os.PathLike, width: int) -> tuple[int, int] | None:
    info = video_info(video)
    if info.width <= width:
        return None
    return width, int(round(info.height * width / info.width / 2) * 2)
