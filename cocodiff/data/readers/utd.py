"""UTD-MHAD (UTD Multimodal Human Action Dataset): one `aAA_sS_tT_skeleton.mat` file to a sample.

Each file holds `d_skel`, a (20, 3, T) array: 20 Kinect v1 joints in UTD's own order (head
first, see its `Skeleton_joint_order.txt`), x, y, z in metres in the Kinect camera frame (+y
up, +z away from the camera, +x toward a subject facing the camera's right, i.e. the camera's
left). The joints are put into `kinect20` order; the label is the action number minus one.
27 actions by 8 subjects, 4 trials each; the right arm performs the one-handed actions. The
usual protocol is cross-subject: odd subjects train, even subjects test.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from cocodiff.data.annotations import read_bytes
from cocodiff.data.layouts import KINECT20
from cocodiff.data.sample import Sample, validate_sample
from cocodiff.errors import DataError

FPS = 30.0  # Kinect v1's skeleton rate, at which UTD-MHAD was recorded
CLASSES = (
    "right arm swipe to the left", "right arm swipe to the right", "right hand wave", "two hand front clap",
    "right arm throw", "cross arms in the chest", "basketball shoot", "right hand draw x",
    "right hand draw circle (clockwise)", "right hand draw circle (counter clockwise)", "draw triangle",
    "bowling (right hand)", "front boxing", "baseball swing from right", "tennis right hand forehand swing",
    "arm curl (two arms)", "tennis serve", "two hand push", "right hand knock on door", "right hand catch an object",
    "right hand pick up and throw", "jogging in place", "walking in place", "sit to stand", "stand to sit",
    "forward lunge (left foot forward)", "squat (two arms stretch out)",
)
# UTD's joint order, in kinect20's names.
UTD_JOINTS = (
    "head", "shoulder_center", "spine", "hip_center",
    "left_shoulder", "left_elbow", "left_wrist", "left_hand",
    "right_shoulder", "right_elbow", "right_wrist", "right_hand",
    "left_hip", "left_knee", "left_ankle", "left_foot",
    "right_hip", "right_knee", "right_ankle", "right_foot",
)
_ORDER = [UTD_JOINTS.index(name) for name in KINECT20.joints]  # kinect20 joint i = UTD joint _ORDER[i]
_NAME = re.compile(r"a(\d+)_s(\d+)_t(\d+)_skeleton")


def parse_utd_name(path: str | os.PathLike) -> tuple[int, int, int]:
    """(action, subject, trial) from a name like a12_s3_t2_skeleton.mat."""
    match = _NAME.fullmatch(Path(path).stem)
    if match is None:
        raise DataError(path, "file name does not follow the UTD-MHAD pattern aA_sS_tT_skeleton.mat")
    action, subject, trial = map(int, match.groups())
    if not 1 <= action <= len(CLASSES):
        raise DataError(path, f"action a{action} in the file name; UTD-MHAD has actions a1 to a{len(CLASSES)}")
    return action, subject, trial


def read_utd_mat(path: str | os.PathLike) -> Sample:
    """One UTD-MHAD skeleton file as a sample: keypoint (1, T, 20, 3) in kinect20 order."""
    import scipy.io

    path = Path(path)
    action, _, _ = parse_utd_name(path)
    data = read_bytes(path)
    if not data.startswith(b"MATLAB 5.0 MAT-file"):
        raise DataError(path, "not a MATLAB 5 .mat file (UTD-MHAD's skeleton format)")
    try:
        content = scipy.io.loadmat(str(path))
    except (ValueError, TypeError, OSError, NotImplementedError) as error:
        raise DataError(path, f"unreadable .mat file ({str(error).splitlines()[0] if str(error) else error})") from None
    skeleton = content.get("d_skel")
    if not isinstance(skeleton, np.ndarray) or skeleton.ndim != 3 or skeleton.shape[:2] != (20, 3):
        shape = getattr(skeleton, "shape", None)
        raise DataError(path, f"expected d_skel of shape (20, 3, T), got {shape if shape is not None else 'none'}")
    keypoint = np.transpose(skeleton, (2, 0, 1))[None][:, :, _ORDER]
    return validate_sample({"keypoint": keypoint.astype(np.float32), "label": action - 1, "frame_dir": path.stem},
                           path, KINECT20)
