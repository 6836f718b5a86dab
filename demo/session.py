"""One viewer's live stream: video frames in, the annotated frame and the labels out.

    session = LiveSession(backend, pose_model_path())
    view = session.process(rgb)                  # uint8 RGB (H, W, 3), straight from the camera
    view.image, view.headline, view.top, view.timeline, view.fps, view.latency_ms
    session.close()

Per frame: MediaPipe finds up to `num_poses` people, the live recogniser (`serve.recognizer`)
is fed the landmarks the model takes (world for 3D, image for 2D), and the frame is drawn
with each person's skeleton and label. Frames are never mirrored before pose estimation;
`mirror=True` mirrors only the picture shown. The same session serves the webcam (timestamps
from the clock), an uploaded clip and a landmark recording (timestamps given).

People appear in rows: the first person tracked is row 0 ("person 1"), the second row 1. A
session belongs to one stream and is not thread-safe.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from cocodiff.errors import CocodiffError
from demo.drawing import PersonLabel, TimelineEntry, draw_people, draw_timeline, write_text
from demo.landmarks import PoseFrame, model_feed
from demo.pose_estimator import MediaPipePose
from serve.backends import Backend
from serve.recognizer import RECOGNISED, UNKNOWN, LiveConfig, LiveRecognizer, LiveUpdate, PersonState

NO_PERSON = "no person in view"
UNKNOWN_ACTION = "unknown action"


@dataclass(frozen=True)
class DemoConfig:
    num_poses: int = 2  # people MediaPipe looks for (and the recogniser tracks)
    # MediaPipe's detection / presence / tracking threshold. At its default 0.5 a second person
    # beside the first was found in 5 of 45 frames of two real clips side by side, at 0.3 in 39,
    # with no extra person in 345 frames of three one-person clips.
    min_confidence: float = 0.3
    top_k: int = 5  # classes shown as bars
    stride_seconds: float = 0.2  # recognise at most this often
    threshold: float = 0.4  # below this smoothed probability: "unknown action"
    timeline_seconds: float = 10.0  # the past the label timeline shows
    timing_window: int = 30  # frames the fps and latency figures average over

    def __post_init__(self) -> None:
        if not 1 <= self.num_poses <= 4:
            raise CocodiffError(f"num_poses={self.num_poses}: MediaPipe looks for 1 to 4 people")
        if not 0 < self.min_confidence < 1 or self.timeline_seconds <= 0 or self.timing_window < 2:
            raise CocodiffError("demo config: min_confidence must be in (0, 1), timeline_seconds > 0, "
                                "timing_window >= 2")

    def live_config(self) -> LiveConfig:
        return LiveConfig(stride_seconds=self.stride_seconds, threshold=self.threshold, max_persons=self.num_poses,
                          top_k=self.top_k)


@dataclass(frozen=True)
class PersonView:
    row: int  # 0: the first person tracked, 1: the second
    track: int
    status: str  # warming_up, recognised or unknown
    label: str | None
    confidence: float
    top: tuple[tuple[str, float], ...]

    @property
    def text(self) -> str:
        """What the viewer reads for this person."""
        if self.status == RECOGNISED:
            return f"{self.label} {self.confidence:.0%}"
        return UNKNOWN_ACTION if self.status == UNKNOWN else "warming up"

    def to_dict(self) -> dict:
        return {"person": self.row + 1, "track": self.track, "status": self.status, "label": self.label,
                "confidence": round(self.confidence, 4), "top": [[name, round(p, 4)] for name, p in self.top]}


@dataclass(frozen=True)
class FrameView:
    timestamp: float
    image: np.ndarray  # the frame with skeletons and labels drawn (mirrored if asked)
    people: tuple[PersonView, ...]  # everybody tracked, by row
    detected: int  # people MediaPipe found in this frame
    predicted: bool  # the model ran on this frame
    timeline: np.ndarray  # the label timeline image
    fps: float  # frames processed per second, recently
    latency_ms: float  # pose + recognition + drawing for one frame, recently (mean)
    stage_ms: dict[str, float] = field(default_factory=dict)  # this frame: pose, recognition, drawing

    @property
    def headline(self) -> str:
        """One line: the action, or why there is none."""
        if not self.detected and not self.people:
            return NO_PERSON
        if not self.people:
            return "warming up"
        return "; ".join(f"person {p.row + 1}: {p.text}" if len(self.people) > 1 else p.text for p in self.people)

    @property
    def top(self) -> dict[str, float]:
        """The first person's best classes and probabilities (for bars); empty while warming up."""
        return {name: p for name, p in self.people[0].top} if self.people else {}

    def to_dict(self) -> dict:
        return {"timestamp": round(self.timestamp, 4), "headline": self.headline, "detected": self.detected,
                "predicted": self.predicted, "people": [p.to_dict() for p in self.people],
                "fps": round(self.fps, 2), "latency_ms": round(self.latency_ms, 2)}


@dataclass
class _Timing:
    window: int
    arrivals: deque = field(default_factory=deque)
    costs: deque = field(default_factory=deque)

    def add(self, arrived: float, cost: float) -> tuple[float, float]:
        self.arrivals.append(arrived)
        self.costs.append(cost)
        while len(self.arrivals) > self.window:
            self.arrivals.popleft()
            self.costs.popleft()
        span = self.arrivals[-1] - self.arrivals[0]
        fps = (len(self.arrivals) - 1) / span if span > 0 else 0.0
        return fps, 1000.0 * float(np.mean(self.costs))


class LiveSession:
    def __init__(self, backend: Backend, pose_model: str | Path | None, config: DemoConfig = DemoConfig(), *,
                 clock: Callable[[], float] = time.perf_counter):
        self.backend, self.config, self.clock = backend, config, clock
        self.feed = model_feed(backend.contract)
        self.recognizer = LiveRecognizer(backend, self.feed.source, config.live_config())
        self.pose_model = pose_model
        self._pose: MediaPipePose | None = None  # made at the first video frame (a replay needs none)
        self._timeline: deque[TimelineEntry] = deque()  # the label changes the timeline shows
        self._current: dict[int, str] = {}  # row -> its label now
        self.history: deque[TimelineEntry] = deque(maxlen=100_000)  # every label change of the stream
        self._rows: dict[int, int] = {}  # track id -> row
        self._timing = _Timing(config.timing_window)
        self._start: float | None = None
        self._last_timestamp: float | None = None

    def process(self, rgb: np.ndarray, timestamp: float | None = None, *, mirror: bool = False) -> FrameView:
        """One video frame (uint8 RGB, unmirrored) seen at `timestamp` seconds (default: now)."""
        began = self.clock()
        time_now = self._stream_time(began, timestamp)
        if self._pose is None:
            if self.pose_model is None:
                raise CocodiffError("this session was made without a pose model: it takes landmarks only")
            self._pose = MediaPipePose(self.pose_model, num_poses=self.config.num_poses,
                                       min_confidence=self.config.min_confidence)
        pose = self._pose.detect(rgb, time_now)
        return self._finish(rgb, pose, began, mirror, pose_ms=1000.0 * (self.clock() - began))

    def process_landmarks(self, pose: PoseFrame, rgb: np.ndarray | None = None, *, mirror: bool = False) -> FrameView:
        """A frame whose landmarks are already known (a recording); drawn over `rgb`, or over a
        blank frame of the recording's size."""
        began = self.clock()
        if rgb is None:
            width, height = pose.size or (640, 480)
            rgb = np.zeros((height, width, 3), np.uint8)
        return self._finish(rgb, pose, began, mirror)

    def _stream_time(self, now: float, timestamp: float | None) -> float:
        if timestamp is not None and not math.isfinite(timestamp):
            raise CocodiffError(f"timestamp must be a finite number of seconds, got {timestamp}")
        if timestamp is None:
            if self._start is None:
                self._start = now
            timestamp = now - self._start
        if self._last_timestamp is not None and timestamp <= self._last_timestamp:
            timestamp = self._last_timestamp + 1e-3  # a clock that stands still must not stop the stream
        self._last_timestamp = timestamp
        return timestamp

    def _finish(self, rgb: np.ndarray, pose: PoseFrame, began: float, mirror: bool, pose_ms: float = 0.0) -> FrameView:
        persons, scores = self.feed.persons(pose)
        recognising = self.clock()
        update = self.recognizer.push(pose.timestamp, persons, scores)
        drawing = self.clock()
        people = self._people(update)
        by_slot = {person.slot: view for person, view in zip(update.persons, people)}
        labels = [PersonLabel(index, f"{by_slot[slot].row + 1}: {by_slot[slot].text}" if len(people) > 1
                              else by_slot[slot].text)
                  for index, slot in enumerate(update.slots) if slot is not None and slot in by_slot]
        image = draw_people(rgb, pose.image, pose.visibility, labels, mirror=mirror)
        if not pose.num_people:
            write_text(image, NO_PERSON, (10, 30))
        self._record(pose.timestamp, people)
        timeline = draw_timeline(list(self._timeline), pose.timestamp, self.config.timeline_seconds,
                                 rows=self.config.num_poses)
        done = self.clock()
        fps, latency = self._timing.add(began, done - began)
        stages = {"pose": pose_ms, "recognition": 1000.0 * (drawing - recognising), "drawing": 1000.0 * (done - drawing)}
        return FrameView(pose.timestamp, image, people, pose.num_people, update.predicted, timeline, fps, latency,
                         stages)

    def _people(self, update: LiveUpdate) -> tuple[PersonView, ...]:
        live = {person.track for person in update.persons}
        for gone in [track for track in self._rows if track not in live]:
            del self._rows[gone]
        views = []
        for person in update.persons:
            row = self._rows.get(person.track)
            if row is None:
                row = min(set(range(self.config.num_poses)) - set(self._rows.values()), default=person.slot)
                self._rows[person.track] = row
            views.append(person_view(person, row))
        return tuple(views)

    def _record(self, timestamp: float, people: tuple[PersonView, ...]) -> None:
        """Append a timeline entry for each row whose label changed; forget what fell off the left
        edge (but the entry that still colours it)."""
        shown = {person.row: person for person in people}
        for row in range(self.config.num_poses):
            person = shown.get(row)
            label = ("no person" if person is None else person.label if person.status == RECOGNISED
                     else "unknown" if person.status == UNKNOWN else "warming up")
            if self._current.get(row) != label:
                self._current[row] = label
                entry = TimelineEntry(timestamp, row, label)
                self._timeline.append(entry)
                self.history.append(entry)
        horizon = timestamp - self.config.timeline_seconds
        last_before = {entry.row: entry for entry in self._timeline if entry.timestamp <= horizon}
        if last_before:
            self._timeline = deque(entry for entry in self._timeline
                                   if entry.timestamp > horizon or last_before.get(entry.row) is entry)

    def close(self) -> None:
        if self._pose is not None:
            self._pose.close()
            self._pose = None


def person_view(person: PersonState, row: int) -> PersonView:
    return PersonView(row, person.track, person.status, person.label, person.confidence, person.top)


def check_session_model(backend: Backend) -> None:
    """A one-line error now, rather than at the first frame, for a model MediaPipe cannot feed."""
    try:
        LiveRecognizer(backend, model_feed(backend.contract).source)
    except CocodiffError as error:
        raise CocodiffError(f"this model cannot be fed by MediaPipe: {error}") from None

