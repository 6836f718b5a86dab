"""Keeping people in their slots: which detection of a frame is which tracked person.

A pose detector lists the people of each frame in an order of its own, which can change from one
frame to the next. The tracker keeps up to `slots` people, each with a stable id, and assigns the
detections of every frame to them by the Hungarian method (`scipy.optimize.linear_sum_assignment`)
on the cost

    mean distance over the joints present in both poses / the tracked person's body size

where the body size is the root-mean-square distance of its joints from their centroid, so the
cost means the same in metres and in normalised image coordinates. A pair costing more than a
gate is not the same person. Sensors jump: from one frame to the next a tracked body sometimes
lands several body sizes away (3.8 % of NW-UCLA's clips hold such a jump, the largest 5.2 body
sizes; UTD-MHAD's none), so a person seen in the previous frame matches within `max_jump` (6)
body sizes, one unseen for longer within `max_cost` (1). Detections left over take free slots
(in the order given); a person not seen for `forget_after` seconds frees the slot. Detections
beyond the free slots are not tracked, and `assign` says so with None.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from cocodiff.data.transforms import joint_present

_UNREACHABLE = 1e9  # a cost linear_sum_assignment can still add up


@dataclass
class Track:
    id: int
    pose: np.ndarray  # (V, C) the last pose seen
    first_seen: float
    last_seen: float


def body_size(pose: np.ndarray) -> float:
    """RMS distance of the present joints of `pose` (V, C) from their centroid (0 if fewer than 2)."""
    present = pose[joint_present(pose)]
    if len(present) < 2:
        return 0.0
    return float(np.sqrt(((present - present.mean(axis=0)) ** 2).sum(axis=1).mean()))


def pose_cost(detection: np.ndarray, tracked: np.ndarray) -> float:
    """The tracker's cost between two poses (V, C); inf when they share no present joint."""
    common = joint_present(detection) & joint_present(tracked)
    size = body_size(tracked) or body_size(detection)
    if not common.any() or size <= 0:
        return float("inf")
    return float(np.linalg.norm(detection[common] - tracked[common], axis=1).mean() / size)


class PersonTracker:
    def __init__(self, slots: int, *, max_cost: float = 1.0, max_jump: float = 6.0, forget_after: float = 1.0):
        if slots < 1:
            raise ValueError(f"slots must be at least 1, got {slots}")
        self.slots = slots
        self.max_cost, self.max_jump = max_cost, max_jump
        self.forget_after = forget_after
        self.tracks: list[Track | None] = [None] * slots
        self._next_id = 0
        self._last_time: float | None = None

    def reset(self) -> None:
        self.tracks = [None] * self.slots
        self._last_time = None

    def snapshot(self) -> tuple:
        tracks = [None if track is None else dataclasses.replace(track) for track in self.tracks]
        return tracks, self._next_id, self._last_time

    def restore(self, snapshot: tuple) -> None:
        tracks, self._next_id, self._last_time = snapshot
        self.tracks = list(tracks)

    def forget(self, timestamp: float) -> list[int]:
        """Free the slots of people unseen for longer than `forget_after`; their slot numbers."""
        freed = []
        for slot, track in enumerate(self.tracks):
            if track is not None and timestamp - track.last_seen > self.forget_after:
                self.tracks[slot] = None
                freed.append(slot)
        return freed

    def assign(self, timestamp: float, persons: np.ndarray) -> list[int | None]:
        """The slot of each detection in `persons` (P, V, C) at `timestamp` (None: not tracked),
        updating the tracks. Call `forget(timestamp)` first to release people long gone."""
        slots: list[int | None] = [None] * len(persons)
        occupied = [slot for slot, track in enumerate(self.tracks) if track is not None]
        if occupied and len(persons):
            cost = np.array([[pose_cost(person, self.tracks[slot].pose) for slot in occupied] for person in persons])
            gate = np.array([self.max_jump if self.tracks[slot].last_seen == self._last_time else self.max_cost
                             for slot in occupied])
            allowed = cost <= gate  # inf (no shared joint) is never allowed
            rows, columns = linear_sum_assignment(np.where(allowed, cost, _UNREACHABLE))
            for row, column in zip(rows, columns):
                if allowed[row, column]:
                    slots[row] = occupied[column]
        free = [slot for slot, track in enumerate(self.tracks) if track is None]
        for index, slot in enumerate(slots):
            if slot is None and free:
                slots[index] = free.pop(0)
                self.tracks[slots[index]] = Track(self._next_id, persons[index], timestamp, timestamp)
                self._next_id += 1
            elif slot is not None:
                track = self.tracks[slot]
                track.pose, track.last_seen = persons[index], timestamp
        self._last_time = timestamp
        return slots
