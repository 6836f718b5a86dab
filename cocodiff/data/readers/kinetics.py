"""Kinetics-Skeleton (the ST-GCN release): OpenPose-18 json per video, plus a label json per split.

A video file `<video id>.json`:

    {"data": [{"frame_index": 1, "skeleton": [{"pose": [x0, y0, ... x17, y17], "score": [18]}]}],
     "label": "abseiling", "label_index": 0}

Coordinates are 2D, normalised to the frame (about 0..1), with OpenPose's confidence per joint; a joint
OpenPose did not find is (0, 0) with score 0. `frame_index` counts from 1 and frames without
anybody may be left out of `data`. The label json (`kinetics_val_label.json`) maps every video id
to `{"has_skeleton", "label", "label_index"}` and is the authority for the label.

Persons: OpenPose does not track people, so "person 2 in frame 7" and "person 2 in frame 8" need
not be the same human. We keep it simple, as ST-GCN does: the i-th person listed in a frame goes
to slot i (every listed person, no cap per frame). Slots are then ranked by their total
confidence over the whole clip (the sum of all joint scores in all frames) and the
`max_persons` best are kept, most confident first; ties keep the listing order. Slots a clip
does not fill are zeros. (ST-GCN's feeder instead re-sorts the persons inside each frame by that
frame's scores; ranking whole slots keeps each slot's frames together.) Coordinates are kept as
stored: no re-centring, unlike ST-GCN's feeder.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from cocodiff.data.annotations import Annotations, read_bytes
from cocodiff.data.convert import ConversionReport, convert_files, list_files
from cocodiff.data.frames import IMAGE
from cocodiff.data.jsonfile import is_integer, json_type, load_json_object, require_keys
from cocodiff.data.layouts import OPENPOSE18
from cocodiff.data.sample import Sample, validate_sample
from cocodiff.errors import CocodiffError, DataError

JOINTS = OPENPOSE18.num_joints
FPS = 30.0  # ST-GCN ran OpenPose on the videos after converting them to 30 fps
# Kinetics clips are 10 s; a larger frame_index is corruption, not a longer clip, and would
# otherwise make us allocate an absurd array.
MAX_FRAME_INDEX = 100_000

SKIP_NO_SKELETON = "has_skeleton is false in the label json"
SKIP_NO_ENTRY = "no entry in the label json"


def read_kinetics_json(path: str | os.PathLike, max_persons: int = 2, label: int | None = None) -> Sample:
    """One video as a sample: keypoint (max_persons, T, 18, 2), keypoint_score (max_persons, T, 18).

    `label` is the class index from the label json; without it the file's own `label_index` is
    used. Where both exist they must agree.
    """
    _check_max_persons(max_persons)
    sample = read_kinetics_clip(path, max_persons)
    sample["label"] = _reconcile_label(path, sample.get("label"), label)
    return sample


def read_kinetics_clip(path: str | os.PathLike, max_persons: int) -> Sample:
    """The validated sample, labelled with the file's own `label_index` if it has one."""
    path = Path(path)
    content = load_json_object(path)
    if "data" not in content:
        raise DataError(path, f"missing key 'data'; found {sorted(content)}")
    keypoint, score = _persons(content["data"], path, max_persons)
    sample = {"frame_dir": path.stem, "keypoint": keypoint, "keypoint_score": score, "total_frames": keypoint.shape[1]}
    if "label_index" in content:
        index = content["label_index"]
        if not is_integer(index) or index < 0:
            raise DataError(path, f"'label_index' must be a non-negative integer, got {index!r}")
        sample["label"] = index
    return validate_sample(sample, path, OPENPOSE18)


def _check_max_persons(max_persons: Any) -> None:
    if not is_integer(max_persons) or max_persons < 1:
        raise CocodiffError(f"max_persons must be a positive integer, got {max_persons!r}")


def _reconcile_label(path: str | os.PathLike, in_file: int | None, from_labels: int | None) -> int:
    if from_labels is None:
        if in_file is None:
            raise DataError(path, "missing key 'label_index' (and no label json entry to take the label from)")
        return in_file
    if in_file is not None and in_file != from_labels:
        raise DataError(path, f"'label_index' is {in_file} in the file but {from_labels} in the label json")
    return from_labels


def _persons(data: Any, path: Path, max_persons: int) -> tuple[np.ndarray, np.ndarray]:
    """Check 'data' and build the (M, T, 18, 2) coordinates and (M, T, 18) scores (see module doc)."""
    if not isinstance(data, list):
        raise DataError(path, f"'data' must be a list of frames, got {json_type(data)}")
    if not data:
        raise DataError(path, "clip has zero frames ('data' is empty)")
    places, poses, scores, num_frames = _collect(data, path)
    if not poses:
        raise DataError(path, f"no person in any of the {len(data)} frames")
    pose_array = _numbers(poses, "pose", places, path).reshape(-1, JOINTS, 2)
    score_array = _numbers(scores, "score", places, path)

    frames = [frame_index - 1 for _, frame_index, _ in places]
    slots = [slot for _, _, slot in places]
    num_slots = max(slots) + 1
    keypoint = np.zeros((num_slots, num_frames, JOINTS, 2), np.float32)
    score = np.zeros((num_slots, num_frames, JOINTS), np.float32)
    keypoint[slots, frames] = pose_array
    score[slots, frames] = score_array
    best = np.argsort(-score.sum(axis=(1, 2)), kind="stable")[:max_persons]
    out_keypoint = np.zeros((max_persons, num_frames, JOINTS, 2), np.float32)
    out_score = np.zeros((max_persons, num_frames, JOINTS), np.float32)
    out_keypoint[: len(best)] = keypoint[best]
    out_score[: len(best)] = score[best]
    return out_keypoint, out_score


Place = tuple[int, int, int]  # (position in 'data', frame_index, slot): where a person came from


def _where(place: Place) -> str:
    i, frame_index, slot = place
    return f"data[{i}] (frame_index {frame_index}) skeleton[{slot}]"


def _collect(data: list, path: Path) -> tuple[list[Place], list[list], list[list], int]:
    """Every person of every frame, with the structure and list lengths checked; and T."""
    places, poses, scores = [], [], []
    seen: set[int] = set()
    for i, frame in enumerate(data):
        if not isinstance(frame, dict):
            raise DataError(path, f"data[{i}] must be an object, got {json_type(frame)}")
        require_keys(frame, ("frame_index", "skeleton"), path, f"data[{i}]")
        index, people = frame["frame_index"], frame["skeleton"]
        if not is_integer(index) or not 1 <= index <= MAX_FRAME_INDEX:
            raise DataError(path, f"data[{i}]: 'frame_index' must be an integer from 1 to {MAX_FRAME_INDEX}, got {index!r}")
        if index in seen:
            raise DataError(path, f"data[{i}]: frame_index {index} appears more than once")
        seen.add(index)
        if not isinstance(people, list):
            raise DataError(path, f"data[{i}]: 'skeleton' must be a list of persons, got {json_type(people)}")
        for slot, person in enumerate(people):
            place = (i, index, slot)
            pose, score = _person_lists(person, path, place)
            places.append(place)
            poses.append(pose)
            scores.append(score)
    return places, poses, scores, max(seen)


def _person_lists(person: Any, path: Path, place: Place) -> tuple[list, list]:
    """The 'pose' and 'score' lists of one person, with their lengths checked against the layout."""
    if not isinstance(person, dict):
        raise DataError(path, f"{_where(place)} must be an object, got {json_type(person)}")
    require_keys(person, ("pose", "score"), path, _where(place))
    pose, score = person["pose"], person["score"]
    for key, value in (("pose", pose), ("score", score)):
        if not isinstance(value, list):
            raise DataError(path, f"{_where(place)}: {key!r} must be a list of numbers, got {json_type(value)}")
    if len(score) != JOINTS and len(pose) == 2 * len(score):
        raise DataError(path, f"{_where(place)}: {len(score)} joints, but layout 'openpose18' has {JOINTS}")
    if len(pose) != 2 * JOINTS:
        raise DataError(path, f"{_where(place)}: 'pose' has {len(pose)} values, expected {2 * JOINTS} (x, y of {JOINTS} joints)")
    if len(score) != JOINTS:
        raise DataError(path, f"{_where(place)}: 'score' has {len(score)} values, expected {JOINTS}")
    return pose, score


def _numbers(rows: list[list], key: str, places: list[Place], path: Path) -> np.ndarray:
    """`rows` (equal lengths, checked) as a float32 array; a `DataError` names the first bad row."""
    try:
        array = np.array(rows)
    except ValueError:  # a nested list somewhere makes the rows ragged
        array = None
    if array is None or array.ndim != 2 or array.dtype.kind not in "iuf":
        for k, row in enumerate(rows):
            for value in row:
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise DataError(path, f"{_where(places[k])}: non-numeric value {value!r} in {key!r}")
        raise DataError(path, f"{key!r} values are not all numbers")
    finite = np.isfinite(array)
    if not finite.all():
        raise DataError(path, f"{_where(places[np.argwhere(~finite)[0][0]])}: NaN or infinite value in {key!r}")
    return array.astype(np.float32)


def load_kinetics_labels(path: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """The label json: video id -> {"has_skeleton": bool, "label": str, "label_index": int}."""
    content = load_json_object(path)
    if isinstance(content.get("data"), list):
        raise DataError(path, "this is a video file (it has 'data'), not a label json mapping video ids to labels")
    for video, entry in content.items():
        if not isinstance(entry, dict):
            raise DataError(path, f"entry {video!r} must be an object, got {json_type(entry)}")
        require_keys(entry, ("has_skeleton", "label", "label_index"), path, f"entry {video!r}")
        if not isinstance(entry["has_skeleton"], bool):
            raise DataError(path, f"entry {video!r}: 'has_skeleton' must be true or false, got {entry['has_skeleton']!r}")
        if not isinstance(entry["label"], str):
            raise DataError(path, f"entry {video!r}: 'label' must be a class name, got {entry['label']!r}")
        index = entry["label_index"]
        if not is_integer(index) or index < 0:
            raise DataError(path, f"entry {video!r}: 'label_index' must be a non-negative integer, got {index!r}")
    return content


def read_class_names(path: str | os.PathLike) -> list[str]:
    """A label map: one class name a line, in label order (trailing blank lines are ignored)."""
    try:
        text = read_bytes(path).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DataError(path, "not a text file of class names (binary data, or text that is not UTF-8)") from None
    names = [line.strip() for line in text.rstrip().splitlines()]
    if not names:
        raise DataError(path, "no class names in the file")
    if "" in names:
        raise DataError(path, f"line {names.index('') + 1} is empty; expected one class name a line")
    return names


def _class_names(labels: Mapping[Path, Mapping[str, dict]], class_names: str | os.PathLike | None) -> list[str]:
    """Classes from the label jsons' names by index; or from `class_names`, checked against them."""
    named: dict[int, tuple[str, Path]] = {}
    for label_path, entries in labels.items():
        for video, entry in entries.items():
            index, name = entry["label_index"], entry["label"]
            if index in named and named[index][0] != name:
                raise DataError(label_path, f"label_index {index} is called both {named[index][0]!r} and {name!r} (entry {video!r})")
            named.setdefault(index, (name, label_path))
    size = max(named, default=-1) + 1
    if class_names is None:
        return [named[i][0] if i in named else f"class {i}" for i in range(size)]
    names = read_class_names(class_names)
    if size > len(names):
        raise DataError(class_names, f"{len(names)} class names, but the label json uses label_index {size - 1}")
    for index, (name, label_path) in sorted(named.items()):
        if names[index] != name:
            raise DataError(class_names, f"line {index + 1} is {names[index]!r} but {label_path} calls class {index} {name!r}")
    return names


def kinetics_annotations(
    parts: Mapping[str, tuple[str | os.PathLike, str | os.PathLike]],
    report: ConversionReport,
    max_persons: int = 2,
    workers: int = 1,
    class_names: str | os.PathLike | None = None,
) -> Annotations:
    """`parts` maps a split name ("train", "val") to (folder of video jsons, its label json).

    Videos the label json marks `has_skeleton: false`, or does not list, are skipped (counted in
    `report.skipped`); the label jsons themselves may sit in the folders and are not read as
    videos. `class_names` is an optional label map (one name a line) used for the class list.
    """
    _check_max_persons(max_persons)
    labels = {Path(label_path): load_kinetics_labels(label_path) for _, label_path in parts.values()}
    classes = _class_names(labels, class_names)  # before the long conversion: a bad file fails fast
    label_files = {path.resolve() for path in labels}
    read_one = functools.partial(read_kinetics_clip, max_persons=max_persons)
    split: dict[str, list[str]] = {}
    samples: list[Sample] = []
    owner: dict[str, str] = {}  # video id -> split, to catch a video listed in two splits
    for name, (folder, label_path) in parts.items():
        entries = labels[Path(label_path)]
        wanted = []
        for path in list_files(folder, "*.json"):
            if path.resolve() in label_files:
                continue
            entry = entries.get(path.stem)
            if entry is None:
                report.skipped.append((str(path), SKIP_NO_ENTRY))
            elif not entry["has_skeleton"]:
                report.skipped.append((str(path), SKIP_NO_SKELETON))
            else:
                wanted.append(path)
        paths = {path.stem: path for path in wanted}
        split[name] = []
        for sample in convert_files(wanted, read_one, report, description=f"Kinetics {name}", workers=workers):
            video = sample["frame_dir"]
            try:
                if video in owner:
                    raise DataError(paths[video], f"video {video!r} is in split {owner[video]!r} too")
                sample["label"] = _reconcile_label(paths[video], sample.get("label"), entries[video]["label_index"])
            except DataError as error:  # counted as converted by convert_files: move it to failed
                report.failed.append((error.source, error.problem))
                report.converted -= 1
                continue
            owner[video] = name
            split[name].append(video)
            samples.append(sample)
    meta = {"layout": OPENPOSE18.name, "classes": classes, "dataset": "kinetics", "source": "cocodiff.data.prepare kinetics",
            "fps": FPS, "frame": IMAGE.to_dict(), "person_order": "confidence"}
    return {"split": split, "annotations": samples, "meta": meta}
