"""A recorded clip played into a live recogniser, frame by frame, as a camera would deliver it."""

from __future__ import annotations

import time
from typing import Callable, Iterator

import numpy as np

from cocodiff.data.sample import Sample
from cocodiff.data.transforms import joint_present
from serve.recognizer import LiveRecognizer, LiveUpdate


def frames_of(sample: Sample, fps: float, *, start: float = 0.0) -> Iterator[tuple[float, np.ndarray, np.ndarray | None]]:
    """(timestamp, persons (P, V, C), scores (P, V) or None) per frame of `sample`, at `fps`:
    only the people present in the frame, as a pose detector lists them."""
    keypoint = np.asarray(sample["keypoint"], dtype=np.float32)
    score = None if sample.get("keypoint_score") is None else np.asarray(sample["keypoint_score"], dtype=np.float32)
    for index in range(keypoint.shape[1]):
        persons = keypoint[:, index]
        present = joint_present(persons).any(axis=-1)
        scores = None if score is None else score[:, index][present]
        yield start + index / fps, persons[present], scores


def play(recognizer: LiveRecognizer, sample: Sample, fps: float, *, realtime: bool = False, speed: float = 1.0,
         on_update: Callable[[LiveUpdate], None] | None = None) -> list[LiveUpdate]:
    """Push every frame of `sample` (at `fps`), then `flush`; the updates, the flush's last.
    `realtime` waits between frames as the recording did (`speed` times faster)."""
    updates = []
    began = time.perf_counter()
    for timestamp, persons, scores in frames_of(sample, fps):
        if realtime:
            time.sleep(max(0.0, began + timestamp / speed - time.perf_counter()))
        update = recognizer.push(timestamp, persons, scores)
        updates.append(update)
        if on_update is not None:
            on_update(update)
    updates.append(recognizer.flush())
    return updates
