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
from cocodiff.data.transforms import person_present, resample

_SNAP = 1e-6  # grid positions this close to a whole frame are that frame: no interpolation noise


class ClipBuffer:
    """Per-slot poses (S, V, C) with timestamps, at most `seconds` back from the newest frame."""

    def __init__(self, slots: int, joints: int, channels: int, *, seconds: float, fps: float):
        self.shape = (slots, joints, channels)
        self.seconds, self.fps = float(seconds), float(fps)
        self._times: deque[float] = deque()
        self._poses: deque[np.ndarray] = deque()
        self._scores: deque[np.ndarray] = deque()

    def __len__(self) -> int:
        return len(self._times)

    def clear(self) -> None:
        self._times.clear()
        self._poses.clear()
        self._scores.clear()

    def append(self, timestamp: float, poses: np.ndarray, scores: np.ndarray) -> None:
        """One frame: poses (S, V, C) and scores (S, V), all zero for an empty slot."""
        self._times.append(float(timestamp))
        self._poses.append(poses)
        self._scores.append(scores)
        # Keep one frame at or before the window's start, for interpolation at its edge.
        start = timestamp - self.seconds
        while len(self._times) > 1 and self._times[1] <= start:
            self._times.popleft()
            self._poses.popleft()
            self._scores.popleft()

    def clear_slot(self, slot: int) -> None:
        """Forget one slot's past (its person left; the slot may go to somebody else)."""
        for poses, scores in zip(self._poses, self._scores):
            poses[slot] = 0.0
            scores[slot] = 0.0

    def span(self, slot: int | None = None) -> float:
        """Seconds from the first to the last frame showing anybody (or the person in `slot`)."""
        seen = [t for t, poses in zip(self._times, self._poses)
                if (poses.any() if slot is None else poses[slot].any())]
        return seen[-1] - seen[0] if seen else 0.0

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
        sample["timestamps"] = grid
        return sample

    def present(self) -> np.ndarray:
        """(S,) bool: which slots show somebody anywhere in the buffer."""
        if not self._poses:
            return np.zeros(self.shape[0], dtype=bool)
        return person_present(np.stack(self._poses, axis=1)).any(axis=1)
