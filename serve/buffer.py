"""The recent past of a stream, as a clip like the training clips.

The model learnt from clips of about `contract.clip_seconds`, recorded at `contract.fps`, that
the evaluation pipeline crops and resizes to its window. A live stream brings frames at its own
rate, sometimes unevenly (a pose detector that is late, a dropped frame). So the buffer keeps
the frames of the last `seconds` with their timestamps and, when a prediction is due, resamples
them onto an even grid at `fps` that ends at the newest frame: the clip a recording at the
training rate would have held. Interpolation is linear in time where a joint is present on both
sides and takes the nearer frame otherwise (`cocodiff.data.transforms.resample`), so a person
entering or leaving never becomes a half-size ghost. A stream that already runs at `fps` with
even timestamps is passed through unchanged, frame for frame; the evaluation pipeline then does
the rest, exactly as for a recorded clip.

Frames with nobody in them are kept (as all-zero frames, as recordings keep tracking drop-outs)
so time keeps its shape; it is the recogniser that resets the stream after a long gap.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from cocodiff.data.sample import Sample
from cocodiff.data.transforms import resample

_SNAP = 1e-4  # grid positions this close to a whole frame (3 us at 30 fps) are that frame: no rounding noise


class ClipBuffer:
    """Per-slot poses (S, V, C) with timestamps, at most `seconds` back from the newest frame."""

    def __init__(self, slots: int, joints: int, channels: int, *, seconds: float, fps: float):
        self.shape = (slots, joints, channels)
        self.seconds, self.fps = float(seconds), float(fps)
        self._anchor: float | None = None  # times are kept relative to it: epoch timestamps lose no precision
        self._times: deque[float] = deque()
        self._poses: deque[np.ndarray] = deque()
        self._scores: deque[np.ndarray] = deque()
        # per slot, the times of the buffered frames that show its person: span and presence
        # without a pass over the buffer, which runs on every frame
        self._seen: list[deque[float]] = [deque() for _ in range(slots)]

    def __len__(self) -> int:
        return len(self._times)

    def clear(self) -> None:
        self._anchor = None
        self._times, self._poses, self._scores = deque(), deque(), deque()
        self._seen = [deque() for _ in self._seen]

    def append(self, timestamp: float, poses: np.ndarray, scores: np.ndarray) -> None:
        """One frame: poses (S, V, C) and scores (S, V), all zero for an empty slot."""
        if self._anchor is None:
            self._anchor = float(timestamp)
        time = float(timestamp) - self._anchor
        self._times.append(time)
        self._poses.append(poses)
        self._scores.append(scores)
        for slot in np.flatnonzero(poses.reshape(len(poses), -1).any(axis=1)):
            self._seen[slot].append(time)
        # Keep one frame at or before the window's start, for interpolation at its edge.
        start = time - self.seconds
        while len(self._times) > 1 and self._times[1] <= start:
            self._times.popleft()
            self._poses.popleft()
            self._scores.popleft()
        for seen in self._seen:
            while seen and seen[0] < self._times[0]:
                seen.popleft()

    def clear_slot(self, slot: int) -> None:
        """Forget one slot's past (its person left; the slot may go to somebody else). New
        arrays, never writes into the old ones: a snapshot stays what it was."""
        self._poses = deque(_without(poses, slot) for poses in self._poses)
        self._scores = deque(_without(scores, slot) for scores in self._scores)
        self._seen[slot] = deque()

    def snapshot(self) -> tuple:
        """The buffer's state, cheaply: the stored arrays are never written to, only replaced."""
        return (self._anchor, deque(self._times), deque(self._poses), deque(self._scores),
                [deque(seen) for seen in self._seen])

    def restore(self, snapshot: tuple) -> None:
        self._anchor, self._times, self._poses, self._scores, self._seen = snapshot

    def span(self, slot: int | None = None) -> float:
        """Seconds from the first to the last frame showing anybody (or the person in `slot`)."""
        seen = [self._seen[slot]] if slot is not None else [times for times in self._seen if times]
        if not seen or not seen[0]:
            return 0.0
        return max(times[-1] for times in seen) - min(times[0] for times in seen)

    def clip(self) -> Sample:
        """The buffered past on an even grid at `fps`: {"keypoint": (S, T, V, C), "keypoint_score":
        (S, T, V), "timestamps": (T,)}, T >= 1, ending at the newest frame."""
        if not self._times:
            raise ValueError("the buffer is empty")
        times = np.asarray(self._times)
        keypoint = np.stack(self._poses, axis=1)  # (S, n, V, C)
        score = np.stack(self._scores, axis=1)
        start = max(times[0], times[-1] - self.seconds)
        steps = int(np.floor((times[-1] - start) * self.fps + _SNAP))
        grid = times[-1] - np.arange(steps, -1, -1) / self.fps
        positions = np.interp(grid, times, np.arange(len(times), dtype=np.float64))
        whole = np.abs(positions - np.round(positions)) < _SNAP
        positions[whole] = np.round(positions[whole])
        sample = resample({"keypoint": keypoint, "keypoint_score": score}, positions)
        sample["timestamps"] = grid + self._anchor
        return sample

    def present(self) -> np.ndarray:
        """(S,) bool: which slots show somebody anywhere in the buffer."""
        return np.array([bool(seen) for seen in self._seen])


def _without(array: np.ndarray, slot: int) -> np.ndarray:
    copy = array.copy()
    copy[slot] = 0.0
    return copy
