"""Recorded MediaPipe landmarks: replayed through the demo's live path without a camera.

Two kinds of JSON file are read:

- a plain list of frames, one person each, as many MediaPipe tools dump it:
  `[{"keypoints": [{"x": .., "y": .., "z": .., "visibility": ..} x 33]}, ...]` (image landmarks;
  an empty or missing `keypoints` is a frame with nobody). It says no frame rate: give `fps`.
- the demo's own recording (`python -m demo.record VIDEO --out FILE`):
  `{"format": "cocodiff.mediapipe_landmarks", "version": 1, "fps": 30.0, "size": [W, H],
  "frames": [{"t": 0.0, "people": [{"image": [[x, y, visibility] x 33], "world": [[x, y, z] x 33]}]}]}`,
  which keeps the world landmarks a 3D model needs and every person of a frame.

Every problem is one line naming the file and the frame.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from cocodiff.atomic import atomic_write_text
from cocodiff.errors import DataError
from demo.landmarks import NUM_LANDMARKS, PoseFrame

FORMAT = "cocodiff.mediapipe_landmarks"
VERSION = 1


def read_landmark_file(path: str | os.PathLike, *, fps: float | None = None) -> list[PoseFrame]:
    """The frames of a landmark file (see the module docstring). `fps` is needed for a plain list
    (30 if not given) and overrides a recording's own rate."""
    source = Path(path)
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(source, "landmark file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataError(source, f"not a JSON landmark file ({str(error).splitlines()[0]})") from None
    if fps is not None and not (math.isfinite(fps) and fps > 0):
        raise DataError(source, f"fps must be > 0, got {fps}")
    if isinstance(data, list):
        return [_plain_frame(source, index, entry, index / (fps or 30.0)) for index, entry in enumerate(data)]
    if isinstance(data, dict) and data.get("format") == FORMAT:
        return _recording(source, data, fps)
    raise DataError(source, f"neither a list of frames nor a {FORMAT} recording")


def _plain_frame(source: Path, index: int, entry: Any, timestamp: float) -> PoseFrame:
    if not isinstance(entry, dict):
        raise DataError(source, f"frame {index}: expected an object with 'keypoints', got {type(entry).__name__}")
    points = entry.get("keypoints") or []
    if not points:
        return PoseFrame.empty(timestamp, world=False)
    if not isinstance(points, list) or len(points) != NUM_LANDMARKS:
        raise DataError(source, f"frame {index}: expected {NUM_LANDMARKS} keypoints, got "
                                f"{len(points) if isinstance(points, list) else type(points).__name__}")
    try:
        values = np.array([[float(p["x"]), float(p["y"]), float(p.get("visibility", 1.0))] for p in points],
                          dtype=np.float32)
    except (KeyError, TypeError, ValueError) as error:
        raise DataError(source, f"frame {index}: a keypoint lacks a number for {error}") from None
    if not np.isfinite(values).all():
        raise DataError(source, f"frame {index}: a keypoint holds NaN or infinity")
    return PoseFrame(timestamp, values[None, :, :2], np.clip(values[None, :, 2], 0, 1), None)


def _recording(source: Path, data: dict, fps: float | None) -> list[PoseFrame]:
    if data.get("version") != VERSION:
        raise DataError(source, f"recording version {data.get('version')!r}; this cocodiff reads version {VERSION}")
    frames = data.get("frames")
    if not isinstance(frames, list):
        raise DataError(source, "recording has no 'frames' list")
    recorded_fps = data.get("fps")
    if recorded_fps is not None and (isinstance(recorded_fps, bool) or not isinstance(recorded_fps, (int, float))
                                     or not math.isfinite(recorded_fps) or recorded_fps <= 0):
        raise DataError(source, f"fps must be a positive number, got {recorded_fps!r}")
    size = data.get("size")
    if size is not None and not (isinstance(size, list) and len(size) == 2
                                 and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)):
        raise DataError(source, f"size must be [width, height] in pixels, got {size!r}")
    scale = 1.0 if fps is None else float(recorded_fps or fps) / fps
    result, last = [], -math.inf
    for index, frame in enumerate(frames):
        if not isinstance(frame, dict) or not isinstance(frame.get("people", []), list):
            raise DataError(source, f"frame {index}: expected an object with 't' and a 'people' list")
        timestamp = _number(source, index, frame.get("t"), "t") * scale
        if timestamp <= last:
            raise DataError(source, f"frame {index}: timestamp {timestamp} does not increase")
        last = timestamp
        people = frame.get("people") or []
        image = np.stack([_landmarks(source, index, person, "image") for person in people]) if people else \
            np.zeros((0, NUM_LANDMARKS, 3), np.float32)
        worlds = [person.get("world") if isinstance(person, dict) else None for person in people]
        world = (np.stack([_landmarks(source, index, person, "world") for person in people]) if people else
                 np.zeros((0, NUM_LANDMARKS, 3), np.float32)) if all(w is not None for w in worlds) else None
        result.append(PoseFrame(timestamp, image[..., :2], np.clip(image[..., 2], 0, 1), world,
                                tuple(size) if size else None))
    return result


def _number(source: Path, index: int, value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise DataError(source, f"frame {index}: {name} must be a finite number, got {value!r}")
    return float(value)


def _landmarks(source: Path, index: int, person: Any, key: str) -> np.ndarray:
    """One person's `key` landmarks: 33 rows of 3 finite numbers (x, y, visibility or x, y, z)."""
    values = person.get(key) if isinstance(person, dict) else None
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        array = np.zeros(0)
    if array.shape != (NUM_LANDMARKS, 3) or not np.isfinite(array).all():
        raise DataError(source, f"frame {index}: a person's {key!r} must be {NUM_LANDMARKS} rows of 3 finite numbers")
    return array.astype(np.float32)


def write_recording(path: str | os.PathLike, frames: Iterable[PoseFrame], fps: float,
                    size: tuple[int, int] | None = None) -> Path:
    """`frames` as the demo's own recording (atomically; 5 decimals, about 0.1 mm in the world)."""
    def person(frame: PoseFrame, index: int) -> dict:
        image = np.concatenate([frame.image[index], frame.visibility[index, :, None]], axis=1)
        entry = {"image": np.round(image, 5).tolist()}
        if frame.world is not None:
            entry["world"] = np.round(frame.world[index], 5).tolist()
        return entry

    body = {"format": FORMAT, "version": VERSION, "fps": float(fps), "size": list(size) if size else None,
            "frames": [{"t": round(frame.timestamp, 6), "people": [person(frame, i) for i in range(frame.num_people)]}
                       for frame in frames]}
    atomic_write_text(path, json.dumps(body, separators=(",", ":")))
    return Path(path)


