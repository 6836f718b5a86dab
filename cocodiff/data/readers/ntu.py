"""NTU RGB+D 60/120: raw Kinect v2 `.skeleton` text files to samples.

A file is named SsssCcccPpppRrrrAaaa (setup, camera, performer, replication, action; label =
action - 1) and holds: the frame count; then per frame the body count; per body one line of
10 values (tracking ID first), the joint count (25) and 25 lines of 12 values, of which we keep
the first three: x, y, z in metres, camera space.

Kinect tracks anything body-shaped, so a file may hold more bodies than actors. We keep up to
`max_bodies` (2) actors the way the standard NTU preprocessing does:

1. Group the per-frame records by tracking ID: one "body" per ID.
2. Length: a body seen in `SHORT_BODY_FRAMES` (11) frames or fewer is flicker; drop it.
3. Spread: people are taller than wide, so a frame where the body's x extent exceeds
   `SPREAD_RATIO` (0.8) times its y extent is noisy; drop a body with `NOISY_SHARE` (69.754 %)
   or more noisy frames.
4. Rank the survivors by motion: the variance of all their joint positions over their frames
   (x, y, z summed); for a body with some noisy frames, the lower of that and the same over its
   clean frames only.
5. The most active body is actor 1. Down the ranking, a body joins the first actor none of
   whose frames it shares (so one person tracked under two IDs in turn is stitched together);
   a body that overlaps every actor is dropped.
6. Frames where no kept body is present are removed.

If steps 2-3 leave nothing, the most active body (of those that passed step 2, else of all)
is kept instead, so a clip with one person always converts. A file with no body in any frame
raises `DataError` (these are the dataset's "missing skeleton" samples).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cocodiff.data.annotations import Annotations, read_bytes
from cocodiff.data.convert import ConversionReport, convert_files, list_files
from cocodiff.data.frames import KINECT
from cocodiff.data.readers.ntu_classes import (
    NTU60_CLASSES,
    NTU60_LAST_ACTION,
    NTU60_LAST_SETUP,
    NTU60_TRAIN_CAMERAS,
    NTU60_TRAIN_SUBJECTS,
    NTU120_CLASSES,
    NTU120_TRAIN_SUBJECTS,
)
from cocodiff.data.sample import Sample
from cocodiff.errors import CocodiffError, DataError

BENCHMARKS = ("ntu60", "ntu120")
FPS = 30.0  # Kinect v2's skeleton rate
NUM_JOINTS = 25
VALUES_PER_JOINT = 12
VALUES_PER_BODY_LINE = 10
SHORT_BODY_FRAMES = 11
SPREAD_RATIO = 0.8
NOISY_SHARE = 0.69754
NO_BODY = "no body in any frame"

NAME_PATTERN = re.compile(r"S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})")
_NAME_IN_TEXT = re.compile(r"(?<![A-Za-z0-9])S\d{3}C\d{3}P\d{3}R\d{3}A\d{3}(?![A-Za-z0-9])")


@dataclass(frozen=True)
class NtuName:
    setup: int
    camera: int
    subject: int
    replication: int
    action: int

    @property
    def label(self) -> int:
        return self.action - 1


def parse_ntu_name(path: str | os.PathLike) -> NtuName:
    """The setup, camera, performer, replication and action coded in a file's name."""
    match = NAME_PATTERN.fullmatch(Path(path).stem)
    if match is None:
        raise DataError(path, "file name does not follow the NTU pattern SsssCcccPpppRrrrAaaa "
                              "(e.g. S001C002P003R002A013.skeleton)")
    name = NtuName(*map(int, match.groups()))
    if not 1 <= name.action <= len(NTU120_CLASSES):
        raise DataError(path, f"action A{name.action:03d} in the file name is outside A001-A120")
    if not 1 <= name.camera <= 3:
        raise DataError(path, f"camera C{name.camera:03d} in the file name is outside C001-C003")
    if min(name.setup, name.subject, name.replication) < 1:
        raise DataError(path, "setup, performer and replication numbers in the file name start at 1")
    return name


# --- parsing -----------------------------------------------------------------------------------

@dataclass
class _Records:
    """Every body record of a file: its tracking ID, its frame, and its joints."""

    num_frames: int
    body_ids: list[str]
    frames: np.ndarray  # (R,) int
    xyz: np.ndarray  # (R, 25, 3) float64


def _parse(path: Path, text: str) -> _Records:
    """Walk the lines once for the structure, then convert all joint lines in one numpy call."""
    lines = text.splitlines()

    def count(index: int, what: str) -> int:
        value = lines[index].strip()
        if not value.isdigit():
            hint = " (is this an NTU .skeleton text file?)" if index == 0 else ""
            raise DataError(path, f"line {index + 1}: expected {what}, got {value[:30]!r}{hint}")
        return int(value)

    if not lines:
        raise DataError(path, "empty file")
    num_frames = count(0, "the number of frames")
    if num_frames == 0:
        raise DataError(path, "zero frames")
    body_ids: list[str] = []
    frames: list[int] = []
    starts: list[int] = []  # first joint line of each record
    index = 1
    for frame in range(num_frames):
        if index >= len(lines):
            raise _truncated(path, num_frames, frame)
        num_bodies = count(index, f"the number of bodies in frame {frame + 1}")
        index += 1
        for _ in range(num_bodies):
            if index + 2 + NUM_JOINTS > len(lines):
                raise _truncated(path, num_frames, frame)
            info = lines[index].split()
            if len(info) != VALUES_PER_BODY_LINE:
                raise DataError(path, f"line {index + 1}: a body line has {VALUES_PER_BODY_LINE} values, "
                                      f"found {len(info)} (truncated or corrupt)")
            joints = count(index + 1, "the joint count")
            if joints != NUM_JOINTS:
                raise DataError(path, f"line {index + 2}: {joints} joints per body, expected {NUM_JOINTS}")
            body_ids.append(info[0])
            frames.append(frame)
            starts.append(index + 2)
            index += 2 + NUM_JOINTS
    leftover = next((i for i in range(index, len(lines)) if lines[i].strip()), None)
    if leftover is not None:
        raise DataError(path, f"line {leftover + 1}: more data after the {num_frames} frames the header announces")
    if not starts:
        raise DataError(path, NO_BODY)

    joint_lines = [line for start in starts for line in lines[start:start + NUM_JOINTS]]
    try:
        values = np.loadtxt(joint_lines, dtype=np.float64, comments=None, ndmin=2)
    except ValueError:
        values = None
    if values is None or values.shape != (len(joint_lines), VALUES_PER_JOINT):
        raise _bad_joint_line(path, lines, starts)
    xyz = values[:, :3].reshape(len(starts), NUM_JOINTS, 3)
    finite = np.isfinite(xyz).all(axis=(1, 2))
    if not finite.all():
        first = int(np.argmin(finite))
        raise DataError(path, f"NaN or infinite coordinates in frame {frames[first] + 1} "
                              f"(joint lines from line {starts[first] + 1})")
    return _Records(num_frames, body_ids, np.asarray(frames), xyz)


def _truncated(path: Path, num_frames: int, frame: int) -> DataError:
    return DataError(path, f"truncated: the header announces {num_frames} frames, "
                           f"the file ends in frame {frame + 1}")


def _bad_joint_line(path: Path, lines: list[str], starts: list[int]) -> DataError:
    """Find the joint line numpy refused (the slow way: only on the error path)."""
    for start in starts:
        for index in range(start, start + NUM_JOINTS):
            tokens = lines[index].split()
            if len(tokens) != VALUES_PER_JOINT:
                return DataError(path, f"line {index + 1}: a joint line has {VALUES_PER_JOINT} values, "
                                       f"found {len(tokens)}")
            for token in tokens:
                try:
                    float(token)
                except ValueError:
                    return DataError(path, f"line {index + 1}: non-numeric value {token[:30]!r}")
    return DataError(path, "unreadable joint data")


# --- choosing the actors -------------------------------------------------------------------------

@dataclass
class _Body:
    frames: np.ndarray  # (n,) frame indices, increasing
    xyz: np.ndarray  # (n, 25, 3)
    noisy_share: float
    motion: float


def _motion(xyz: np.ndarray) -> float:
    return float(np.var(xyz.reshape(-1, 3), axis=0).sum())


def _group_bodies(records: _Records) -> list[_Body]:
    members: dict[str, list[int]] = {}
    for record, body_id in enumerate(records.body_ids):
        members.setdefault(body_id, []).append(record)
    bodies = []
    for rows in members.values():
        # An ID listed twice in one frame would be ambiguous: keep its first record there.
        frames, first = np.unique(records.frames[rows], return_index=True)
        xyz = records.xyz[np.asarray(rows)[first]]
        extent = np.ptp(xyz, axis=1)  # (n, 3): per frame, the body's extent along x, y, z
        noisy = extent[:, 0] > SPREAD_RATIO * extent[:, 1]
        motion = _motion(xyz)
        if noisy.any() and not noisy.all():
            motion = min(motion, _motion(xyz[~noisy]))
        bodies.append(_Body(frames, xyz, float(noisy.mean()), motion))
    return bodies


def _choose_bodies(bodies: list[_Body]) -> list[_Body]:
    """Steps 2-4 of the module docstring: the denoised bodies, most active first."""
    long_enough = [body for body in bodies if len(body.frames) > SHORT_BODY_FRAMES]
    human = [body for body in long_enough if body.noisy_share < NOISY_SHARE]
    if not human:
        human = [max(long_enough or bodies, key=lambda body: body.motion)]
    return sorted(human, key=lambda body: body.motion, reverse=True)


def _assign_actors(ranked: list[_Body], num_frames: int, max_bodies: int) -> np.ndarray:
    """Steps 5-6: (max_bodies, T', 25, 3) with T' the frames some kept body is in."""
    keypoint = np.zeros((max_bodies, num_frames, NUM_JOINTS, 3), dtype=np.float32)
    occupied = np.zeros((max_bodies, num_frames), dtype=bool)
    for body in ranked:
        for slot in range(max_bodies):
            if not occupied[slot, body.frames].any():
                occupied[slot, body.frames] = True
                keypoint[slot, body.frames] = body.xyz
                break
    return keypoint[:, occupied.any(axis=0)]


def read_ntu_skeleton(path: str | os.PathLike, max_bodies: int = 2) -> Sample:
    """One `.skeleton` file as a sample with `max_bodies` actor slots (see the module docstring)."""
    if max_bodies < 1:
        raise ValueError(f"max_bodies must be at least 1, got {max_bodies}")
    path = Path(path)
    if path.suffix != ".skeleton":
        raise DataError(path, "not a .skeleton file")
    name = parse_ntu_name(path)
    data = read_bytes(path)
    if b"\0" in data:
        raise DataError(path, "binary content, not an NTU .skeleton text file")
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise DataError(path, "not ASCII text, not an NTU .skeleton text file") from None
    records = _parse(path, text)
    ranked = _choose_bodies(_group_bodies(records))
    keypoint = _assign_actors(ranked, records.num_frames, max_bodies)
    return {
        "keypoint": keypoint,
        "label": name.label,
        "frame_dir": path.stem,
        "total_frames": keypoint.shape[1],
    }


# --- the dataset ----------------------------------------------------------------------------------

def read_missing_list(path: str | os.PathLike) -> set[str]:
    """The sample names in an official missing-skeleton list (prose lines are ignored)."""
    text = read_bytes(path).decode("latin-1")
    names = set(_NAME_IN_TEXT.findall(text))
    if not names:
        raise DataError(path, "no sample names (like S001C002P005R002A008) found: "
                              "expected the NTU list of samples with missing skeletons")
    return names


def _outside_benchmark(name: NtuName, benchmark: str) -> str | None:
    """Why a sample is not part of `benchmark`, or None when it is."""
    if benchmark == "ntu60":
        if name.action > NTU60_LAST_ACTION:
            return f"not in ntu60: action above A{NTU60_LAST_ACTION:03d}"
        if name.setup > NTU60_LAST_SETUP:
            return f"not in ntu60: setup above S{NTU60_LAST_SETUP:03d}"
    return None


def ntu_splits(names: list[str], benchmark: str) -> dict[str, list[str]]:
    """The benchmark's standard train/val splits of the given sample names, in their order."""
    parsed = [(name, parse_ntu_name(name)) for name in names]

    def split(prefix: str, is_train) -> dict[str, list[str]]:
        return {f"{prefix}_train": [n for n, p in parsed if is_train(p)],
                f"{prefix}_val": [n for n, p in parsed if not is_train(p)]}

    if benchmark == "ntu60":
        return {**split("xsub", lambda p: p.subject in NTU60_TRAIN_SUBJECTS),
                **split("xview", lambda p: p.camera in NTU60_TRAIN_CAMERAS)}
    return {**split("xsub", lambda p: p.subject in NTU120_TRAIN_SUBJECTS),
            **split("xset", lambda p: p.setup % 2 == 0)}


def ntu_annotations(folder: str | os.PathLike, benchmark: str, report: ConversionReport,
                    missing_list: str | os.PathLike | None = None, workers: int = 1) -> Annotations:
    """Read every `.skeleton` file in `folder` that belongs to `benchmark` ("ntu60" or "ntu120").

    Samples outside the benchmark, samples named in `missing_list`, and files with no body at
    all go to `report.skipped`; unreadable files to `report.failed`.
    """
    if benchmark not in BENCHMARKS:
        raise CocodiffError(f"unknown NTU benchmark {benchmark!r}; choose one of {', '.join(BENCHMARKS)}")
    files = list_files(folder, "*.skeleton")
    missing = read_missing_list(missing_list) if missing_list is not None else set()
    to_read = []
    for path in files:
        try:
            name = parse_ntu_name(path)
        except DataError:
            to_read.append(path)  # the reader reports it as a failure
            continue
        reason = _outside_benchmark(name, benchmark)
        if reason is None and path.stem in missing:
            reason = "listed as a sample with missing skeletons"
        if reason is None:
            to_read.append(path)
        else:
            report.skipped.append((str(path), reason))

    first_new_failure = len(report.failed)
    samples = convert_files(to_read, read_ntu_skeleton, report, description=f"reading {benchmark}", workers=workers)
    new_failures = report.failed[first_new_failure:]
    del report.failed[first_new_failure:]
    for failure in new_failures:  # an empty recording is expected in NTU: a skip, not a failure
        (report.skipped if failure[1] == NO_BODY else report.failed).append(failure)

    classes = NTU60_CLASSES if benchmark == "ntu60" else NTU120_CLASSES
    return {
        "split": ntu_splits([sample["frame_dir"] for sample in samples], benchmark),
        "annotations": samples,
        "meta": {"layout": "ntu25", "classes": list(classes), "dataset": benchmark,
                 "source": "cocodiff.data.prepare ntu", "fps": FPS, "frame": KINECT.to_dict(),
                 "person_order": "motion"},
    }
