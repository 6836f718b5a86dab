"""UTD-MHAD (UTD Multimodal Human Action Dataset): one `aAA_sS_tT_skeleton.mat` file to a sample.

Each file holds `d_skel`, a (20, 3, T) array: 20 Kinect v1 joints in UTD's own order (head
first, see its `Skeleton_joint_order.txt`), x, y, z in metres in the Kinect camera frame (+y
up, +z away from the camera, +x toward a subject facing the camera's right, i.e. the camera's
left). The joints are put into `kinect20` order; the label is the action number minus one.
27 actions by 8 subjects, 4 trials each; the right arm performs the one-handed actions. The
usual protocol is cross-subject: odd subjects train, even subjects test.

`utd_annotations` converts a folder. When the folder has the release's
`Skeleton_joint_order.txt`, the joint order is read from it (and must name the 20 Kinect v1
joints); otherwise the order documented there is used.
"""

from __future__ import annotations

import os
import re
from functools import partial
from pathlib import Path

import numpy as np

from cocodiff.data.annotations import Annotations, read_bytes
from cocodiff.data.convert import ConversionReport, convert_files, list_files
from cocodiff.data.frames import KINECT
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
JOINT_ORDER_FILE = "Skeleton_joint_order.txt"
SPLITS = {"xsub_train": (1, 3, 5, 7), "xsub_val": (2, 4, 6, 8)}  # subjects; "all" holds every clip
_NAME = re.compile(r"a(\d+)_s(\d+)_t(\d+)_skeleton")
_ORDER_LINE = re.compile(r"\s*(\d+)\.\s*([a-z_ ]+?)\s*;?\s*")


def read_joint_order(path: str | os.PathLike) -> tuple[str, ...]:
    """The joint names of UTD's `Skeleton_joint_order.txt` ("1. head;" ...), in kinect20's names."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        raise DataError(path, f"cannot read ({error.strerror or error})") from None
    numbered = [match.groups() for match in map(_ORDER_LINE.fullmatch, text.splitlines()) if match]
    names = tuple(name.strip().replace(" ", "_") for _, name in numbered)
    if [int(number) for number, _ in numbered] != list(range(1, len(names) + 1)) or sorted(names) != sorted(KINECT20.joints):
        raise DataError(path, f"expected the 20 Kinect v1 joints numbered 1 to 20, found {len(names)} numbered "
                              f"lines ({', '.join(names[:4])}{', ...' if len(names) > 4 else ''})")
    return names


def _kinect20_order(joints: tuple[str, ...]) -> list[int]:
    """Index into a file's joints for each kinect20 joint."""
    return [joints.index(name) for name in KINECT20.joints]


def parse_utd_name(path: str | os.PathLike) -> tuple[int, int, int]:
    """(action, subject, trial) from a name like a12_s3_t2_skeleton.mat."""
    match = _NAME.fullmatch(Path(path).stem)
    if match is None:
        raise DataError(path, "file name does not follow the UTD-MHAD pattern aA_sS_tT_skeleton.mat")
    action, subject, trial = map(int, match.groups())
    if not 1 <= action <= len(CLASSES):
        raise DataError(path, f"action a{action} in the file name; UTD-MHAD has actions a1 to a{len(CLASSES)}")
    return action, subject, trial


def read_utd_mat(path: str | os.PathLike, joints: tuple[str, ...] = UTD_JOINTS) -> Sample:
    """One UTD-MHAD skeleton file as a sample: keypoint (1, T, 20, 3) in kinect20 order.
    `joints` names the file's joint rows in order (kinect20 names)."""
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
    if skeleton.shape[2] == 0:
        raise DataError(path, "clip has zero frames (d_skel is 20 x 3 x 0)")
    if not np.isfinite(skeleton).all():
        joint, _, frame = np.argwhere(~np.isfinite(skeleton))[0]
        raise DataError(path, f"NaN or infinite coordinate at joint {joint + 1}, frame {frame + 1}")
    keypoint = np.transpose(skeleton, (2, 0, 1))[None][:, :, _kinect20_order(joints)]
    return validate_sample({"keypoint": keypoint.astype(np.float32), "label": action - 1, "frame_dir": path.stem},
                           path, KINECT20)


def _numeric_order(path: Path) -> tuple:
    """a2 before a10; names off the pattern last (they fail, one line each, when read)."""
    match = _NAME.fullmatch(path.stem)
    return (0, *map(int, match.groups())) if match else (1, path.name)


def utd_annotations(folder: str | os.PathLike, report: ConversionReport) -> Annotations:
    """Every `*_skeleton.mat` in `folder`, with the cross-subject splits and "all"."""
    folder = Path(folder)
    order_file = folder / JOINT_ORDER_FILE
    joints = read_joint_order(order_file) if order_file.is_file() else UTD_JOINTS
    paths = sorted(list_files(folder, "*_skeleton.mat"), key=_numeric_order)
    samples = convert_files(paths, partial(read_utd_mat, joints=joints), report, description="UTD-MHAD")
    split: dict[str, list[str]] = {name: [] for name in (*SPLITS, "all")}
    for sample in samples:
        subject = parse_utd_name(sample["frame_dir"])[1]
        for name, subjects in SPLITS.items():
            if subject in subjects:
                split[name].append(sample["frame_dir"])
        split["all"].append(sample["frame_dir"])
    meta = {"layout": KINECT20.name, "classes": list(CLASSES), "dataset": "utd_mhad",
            "source": "cocodiff.data.prepare utd", "fps": FPS, "frame": KINECT.to_dict(), "person_order": "recorded",
            "joint_order": "file" if order_file.is_file() else "built-in"}
    return {"split": split, "annotations": samples, "meta": meta}
