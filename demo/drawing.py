"""What the viewer sees drawn: skeletons and labels over the frame, and the label timeline.

Bones are coloured by side as in `cocodiff.data.render`: the subject's right red, left blue, the
midline grey. `mirror=True` shows the frame as a mirror would (comfortable in front of a
webcam); it flips the picture and the landmarks' x for display only, after pose estimation, and
text is written after the flip so that it reads the right way.
"""

from __future__ import annotations

import colorsys
import hashlib
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from cocodiff.data.layouts import get_layout

RIGHT, LEFT, MIDDLE = (230, 60, 50), (50, 110, 230), (200, 200, 200)
STATUS_COLOURS = {"no person": (90, 90, 90), "warming up": (160, 160, 160), "unknown": (120, 120, 120)}
_MIN_VISIBILITY = 0.3
_LAYOUT = get_layout("mediapipe33")



def _connections() -> tuple[tuple[int, int], ...]:
    """The lines a viewer expects between MediaPipe's landmarks (the layout's tree is a graph for
    the model and joins the shoulders through the nose; a person looks right with a shoulder and
    a hip line instead)."""
    pairs = [("nose", "left_eye_inner"), ("left_eye_inner", "left_eye"), ("left_eye", "left_eye_outer"),
             ("left_eye_outer", "left_ear"), ("left_mouth", "right_mouth"),
             ("left_shoulder", "right_shoulder"), ("left_hip", "right_hip")]
    for side in ("left", "right"):
        chain = [("shoulder", "elbow"), ("elbow", "wrist"), ("wrist", "pinky"), ("wrist", "index"),
                 ("pinky", "index"), ("wrist", "thumb"), ("shoulder", "hip"), ("hip", "knee"), ("knee", "ankle"),
                 ("ankle", "heel"), ("heel", "foot_index"), ("ankle", "foot_index")]
        pairs += [(f"{side}_{a}", f"{side}_{b}") for a, b in chain]
    pairs += [("nose", "right_eye_inner"), ("right_eye_inner", "right_eye"), ("right_eye", "right_eye_outer"),
              ("right_eye_outer", "right_ear")]
    return tuple((_LAYOUT.index(a), _LAYOUT.index(b)) for a, b in pairs)


_BONES = _connections()


@dataclass(frozen=True)
class PersonLabel:
    """A label to write beside one person."""

    person: int  # index into the frame's people
    text: str


def _bone_colour(a: int, b: int) -> tuple[int, int, int]:
    sides = {_LAYOUT.joints[a].split("_")[0], _LAYOUT.joints[b].split("_")[0]}
    return RIGHT if sides == {"right"} else LEFT if sides == {"left"} else MIDDLE


def draw_people(rgb: np.ndarray, image_landmarks: np.ndarray, visibility: np.ndarray,
                labels: Sequence[PersonLabel] = (), *, mirror: bool = False) -> np.ndarray:
    """A copy of `rgb` (H, W, 3) with every person's skeleton ((P, 33, 2) normalised image
    landmarks) and their label drawn."""
    import cv2

    height, width = rgb.shape[:2]
    canvas = np.ascontiguousarray(rgb[:, ::-1] if mirror else rgb).copy()
    thickness = max(2, round(min(width, height) / 160))
    for person in range(len(image_landmarks)):
        points = image_landmarks[person] * (width, height)
        if mirror:
            points[:, 0] = width - 1 - points[:, 0]
        seen = visibility[person] >= _MIN_VISIBILITY
        pixel = np.round(points).astype(int)
        for child, parent in _BONES:
            if seen[child] and seen[parent]:
                cv2.line(canvas, tuple(pixel[child]), tuple(pixel[parent]), _bone_colour(child, parent),
                         thickness, cv2.LINE_AA)
        for index in np.flatnonzero(seen):
            cv2.circle(canvas, tuple(pixel[index]), thickness + 1, (255, 255, 255), -1, cv2.LINE_AA)
    for label in labels:
        points = image_landmarks[label.person] * (width, height)
        if mirror:
            points[:, 0] = width - 1 - points[:, 0]
        top = points[visibility[label.person] >= _MIN_VISIBILITY] if (visibility[label.person] >= _MIN_VISIBILITY).any() \
            else points
        anchor = (int(np.clip(top[:, 0].min(), 0, width - 1)), int(np.clip(top[:, 1].min() - 12, 20, height - 1)))
        write_text(canvas, label.text, anchor)
    return canvas


def write_text(canvas: np.ndarray, text: str, origin: tuple[int, int], scale: float | None = None) -> None:
    """`text` on a dark box at `origin` (the baseline's left end), in place, kept inside the frame."""
    import cv2

    height, width = canvas.shape[:2]
    scale = scale or max(0.5, min(width, height) / 700)
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
    x = int(np.clip(origin[0], 0, max(0, width - w - 6)))
    y = int(np.clip(origin[1], h + 6, height - base - 2))
    cv2.rectangle(canvas, (x, y - h - 6), (x + w + 6, y + base + 2), (20, 20, 20), -1)
    cv2.putText(canvas, text, (x + 3, y - 2), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 2, cv2.LINE_AA)


def label_colour(label: str) -> tuple[int, int, int]:
    """A steady colour for each class name (the same in every session), grey for the states."""
    if label in STATUS_COLOURS:
        return STATUS_COLOURS[label]
    hue = int(hashlib.sha256(label.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    red, green, blue = colorsys.hsv_to_rgb(hue, 0.65, 0.9)
    return round(red * 255), round(green * 255), round(blue * 255)


@dataclass(frozen=True)
class TimelineEntry:
    timestamp: float  # seconds
    row: int  # 0 for the first person, 1 for the second
    label: str  # a class name, or one of the STATUS_COLOURS keys


def draw_timeline(entries: Sequence[TimelineEntry], now: float, seconds: float, *, rows: int = 2,
                  width: int = 640, row_height: int = 26) -> np.ndarray:
    """The labels of the last `seconds` as coloured bands, one row a person, newest at the right;
    each band lasts until the next entry of its row and is named where it is wide enough."""
    canvas = np.full((rows * row_height + 4, width, 3), 245, np.uint8)
    start = now - seconds
    for row in range(rows):
        mine = [entry for entry in entries if entry.row == row]
        for entry, following in zip(mine, mine[1:] + [None]):
            end = following.timestamp if following else now
            if end <= start:
                continue
            x0 = int(round((max(entry.timestamp, start) - start) / seconds * (width - 1)))
            x1 = int(round((min(end, now) - start) / seconds * (width - 1)))
            top = 2 + row * row_height
            canvas[top:top + row_height - 2, x0:max(x1, x0 + 1)] = label_colour(entry.label)
            if x1 - x0 > 60:
                _band_text(canvas, entry.label, x0 + 4, top + row_height - 9, x1 - x0 - 8)
    return canvas


def _band_text(canvas: np.ndarray, text: str, x: int, y: int, room: int) -> None:
    import cv2

    while text and cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1)[0][0] > room:
        text = text[:-1]
    cv2.putText(canvas, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
