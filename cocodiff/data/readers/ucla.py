"""NW-UCLA Multiview Action3D: the `all_sqe/*.json` files, read in place.

Each file holds one sequence seen by one of three Kinect v1 cameras:

    {"file_name": "a01_s01_e00_v01", "skeletons": [T][20][3], "label": 1..10}

Coordinates are in metres, joints in the "kinect20" layout. The file name `aAA_sBB_eCC_vDD`
gives action, subject, episode and view. The standard cross-view protocol trains on views 1
and 2 and tests on view 3.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from cocodiff.data.annotations import Annotations
from cocodiff.data.convert import ConversionReport, convert_files, list_files
from cocodiff.data.frames import KINECT
from cocodiff.data.jsonfile import is_integer, json_type, load_json_object, require_keys
from cocodiff.data.layouts import KINECT20
from cocodiff.data.sample import Sample, validate_sample
from cocodiff.errors import DataError

# The dataset skips action codes 7 and 10; its json labels 1..10 follow this order.
ACTION_CODES = (1, 2, 3, 4, 5, 6, 8, 9, 11, 12)
CLASSES = (
    "pick up with one hand", "pick up with two hands", "drop trash", "walk around", "sit down",
    "stand up", "donning", "doffing", "throw", "carry",
)
# The standard cross-view fold (train views 1+2, test view 3) and one split per view: development
# folds leave one training view out (train view1, validate view2, and the other way round) and
# never touch the test view.
SPLIT_VIEWS = {"xview_train": (1, 2), "xview_val": (3,), "view1": (1,), "view2": (2,), "view3": (3,)}
FPS = 30.0  # nominal: recorded with Kinect v1 (30 fps); the dataset does not state its skeleton rate

_NAME = re.compile(r"a(\d{2})_s(\d{2})_e(\d{2})_v(\d{2})")
_REQUIRED = ("file_name", "skeletons", "label")


def parse_ucla_name(name: str, source: str | os.PathLike) -> tuple[int, int, int, int]:
    """(action, subject, episode, view) from a name like 'a01_s01_e00_v01'."""
    match = _NAME.fullmatch(name)
    if match is None:
        raise DataError(source, f"file name {name!r} does not follow the NW-UCLA pattern aAA_sBB_eCC_vDD")
    action, subject, episode, view = map(int, match.groups())
    if action not in ACTION_CODES:
        codes = ", ".join(f"a{code:02d}" for code in ACTION_CODES)
        raise DataError(source, f"action a{action:02d} in the file name is not one of NW-UCLA's ({codes})")
    if not any(view in views for views in SPLIT_VIEWS.values()):
        raise DataError(source, f"view v{view:02d} in the file name; NW-UCLA has views v01 to v03")
    return action, subject, episode, view


def read_ucla_json(path: str | os.PathLike) -> Sample:
    """One NW-UCLA sequence as a sample: keypoint (1, T, 20, 3), label 0..9.

    The json label must agree with the action code in the file name: the two are the only
    independent records of the class, and a disagreement means a renamed or edited file.
    """
    path = Path(path)
    content = load_json_object(path)
    require_keys(content, _REQUIRED, path)
    name = path.stem
    action, _, _, _ = parse_ucla_name(name, path)
    if content["file_name"] != name:
        raise DataError(path, f"'file_name' is {content['file_name']!r} but the file is called {name!r}")
    label = content["label"]
    if not is_integer(label) or not 1 <= label <= len(ACTION_CODES):
        raise DataError(path, f"'label' must be an integer from 1 to {len(ACTION_CODES)}, got {label!r}")
    expected = ACTION_CODES.index(action) + 1
    if label != expected:
        raise DataError(path, f"'label' is {label} but action a{action:02d} in the file name is label {expected}")
    keypoint = _coordinates(content["skeletons"], path)
    sample = {"frame_dir": name, "label": label - 1, "keypoint": keypoint[np.newaxis], "total_frames": len(keypoint)}
    return validate_sample(sample, path, KINECT20)


def _coordinates(skeletons: Any, path: Path) -> np.ndarray:
    """The (T, 20, 3) float32 array of 'skeletons', or a `DataError` pointing at the first bad entry."""
    if not isinstance(skeletons, list):
        raise DataError(path, f"'skeletons' must be a list of frames, got {json_type(skeletons)}")
    if not skeletons:
        raise DataError(path, "clip has zero frames ('skeletons' is empty)")
    shape = (len(skeletons), KINECT20.num_joints, 3)
    try:
        array = np.array(skeletons)
    except ValueError:  # ragged nesting: numpy refuses it
        array = None
    if array is None or array.shape != shape or array.dtype.kind not in "iuf":
        _find_bad_entry(skeletons, path)
        raise DataError(path, f"'skeletons' must be numbers shaped [frames][20][3], got shape {getattr(array, 'shape', '?')}")
    finite = np.isfinite(array)
    if not finite.all():
        frame, joint, _ = np.argwhere(~finite)[0]
        raise DataError(path, f"NaN or infinite coordinate at skeletons[{frame}][{joint}]")
    return array.astype(np.float32)


def _find_bad_entry(skeletons: list, path: Path) -> None:
    """Raise a `DataError` naming the first frame or joint that breaks the [T][20][3] shape."""
    joints = KINECT20.num_joints
    for t, frame in enumerate(skeletons):
        if not isinstance(frame, list):
            raise DataError(path, f"skeletons[{t}] must be a list of joints, got {json_type(frame)}")
        if len(frame) != joints:
            raise DataError(path, f"skeletons[{t}] has {len(frame)} joints, but layout 'kinect20' has {joints}")
        for j, joint in enumerate(frame):
            if not isinstance(joint, list) or len(joint) != 3:
                size = f"{len(joint)} values" if isinstance(joint, list) else json_type(joint)
                raise DataError(path, f"skeletons[{t}][{j}] must be 3 coordinates (x, y, z), got {size}")
            for value in joint:
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise DataError(path, f"non-numeric coordinate {value!r} at skeletons[{t}][{j}]")


def ucla_annotations(folder: str | os.PathLike, report: ConversionReport) -> Annotations:
    """Every `*.json` in `folder` as one annotation set with the cross-view splits."""
    paths = list_files(folder, "*.json")
    samples = convert_files(paths, read_ucla_json, report, description="NW-UCLA")
    split: dict[str, list[str]] = {name: [] for name in SPLIT_VIEWS}
    for sample in samples:
        view = parse_ucla_name(sample["frame_dir"], folder)[3]
        for name, views in SPLIT_VIEWS.items():
            if view in views:
                split[name].append(sample["frame_dir"])
    meta = {"layout": KINECT20.name, "classes": list(CLASSES), "dataset": "nw_ucla", "source": "cocodiff.data.prepare ucla",
            "fps": FPS, "frame": KINECT.to_dict(), "person_order": "recorded"}
    return {"split": split, "annotations": samples, "meta": meta}
