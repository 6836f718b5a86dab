"""The live recogniser: timestamped frames of a skeleton stream in, a label per person out.

    recogniser = LiveRecognizer(open_backend("best.onnx"), SkeletonSource("mediapipe33", MEDIAPIPE_WORLD))
    for timestamp, persons in stream:                 # persons: (P, 33, 3), any P, any rate
        update = recogniser.push(timestamp, persons)
        for person in update.persons:
            print(person.track, person.status, person.label, person.confidence)
    recogniser.flush()                                # the end of a recording: predict on what is left

Pure Python over a backend: no UI, no HTTP. Per frame: the intake (`serve.stream`) checks and
retargets it; the tracker (`serve.tracker`) keeps up to `max_persons` people in their slots;
the buffer (`serve.buffer`) holds the last `seconds` (by default the training clips' median
duration, `contract.clip_seconds`) and turns them into a clip at the training frame rate; the
contract's own inference pipeline turns that clip into model input, as in evaluation.

- Stride: a prediction at most every `stride_seconds` of stream time (or every `stride_frames`
  frames), once somebody has been in view for `warmup_seconds` (default: half the training clips'
  median duration, at most `seconds`).
  Until then a person is `warming_up`.
- Smoothing: a person's label comes from the mean of their last `smoothing` probability vectors;
  below `threshold` they are `unknown` rather than named.
- Gaps: frames with nobody in them are gaps; a gap longer than `gap_seconds` resets the stream
  (buffer, tracks, smoothing), and a person unseen that long loses their slot.
- People: a one-person model (`contract.num_persons == 1`) labels each tracked person on their
  own, in one batch. A model with several person slots sees the tracked people together, in the
  slot order its training data used (`contract.person_order`), and its label is the group's:
  every person it saw carries it, and `update.joint` is true (anybody beyond its slots stays
  `warming_up`).
- Failures: a bad frame (`serve.stream.FrameError`) or a model that fails to run leaves the
  stream exactly as it was before the frame.

After a whole recording, with `seconds` covering it and `smoothing=1`, `flush()` gives the label
the offline evaluation gives for the same clip (tested on NW-UCLA, UTD-MHAD and NTU clips).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from cocodiff.data.pipelines import InferencePipeline, SkeletonSource
from cocodiff.data.transforms import person_present
from cocodiff.errors import CocodiffError
from serve.backends import Backend
from serve.buffer import ClipBuffer
from serve.stream import Frame, FrameIntake, check_timestamp
from serve.tracker import PersonTracker

WARMING_UP, RECOGNISED, UNKNOWN = "warming_up", "recognised", "unknown"
_EPSILON = 1e-9


@dataclass(frozen=True)
class LiveConfig:
    seconds: float | None = None  # the past a prediction sees; None: the contract's clip_seconds
    warmup_seconds: float | None = None  # in view this long before the first label; None: clip_seconds / 2
    stride_seconds: float = 0.2  # predict at most this often (stream time)
    stride_frames: int = 0  # > 0: predict every this many frames instead
    smoothing: int = 3  # average the probabilities of this many recent predictions
    threshold: float = 0.4  # a smoothed probability below this is "unknown"
    gap_seconds: float = 1.0  # nobody in view this long resets the stream
    max_persons: int = 2  # people tracked at once
    max_cost: float = 1.0  # tracker gate, in body sizes, for people unseen in the previous frame
    max_jump: float = 6.0  # ... and for people seen in it (sensors jump; see serve.tracker)
    top_k: int = 3

    def __post_init__(self) -> None:
        checks = [
            ("seconds", self.seconds is None or self.seconds > 0, "must be > 0"),
            ("warmup_seconds", self.warmup_seconds is None or self.warmup_seconds >= 0, "must be >= 0"),
            ("stride_seconds", self.stride_seconds >= 0, "must be >= 0"),
            ("stride_frames", self.stride_frames >= 0, "must be >= 0"),
            ("smoothing", self.smoothing >= 1, "must be at least 1"),
            ("threshold", 0 <= self.threshold <= 1, "must be in [0, 1]"),
            ("gap_seconds", self.gap_seconds > 0, "must be > 0"),
            ("max_persons", self.max_persons >= 1, "must be at least 1"),
            ("max_cost", self.max_cost > 0, "must be > 0"),
            ("max_jump", self.max_jump >= self.max_cost, "must be >= max_cost"),
            ("top_k", self.top_k >= 1, "must be at least 1"),
        ]
        for name, ok, rule in checks:
            if not ok:
                raise CocodiffError(f"live config: {name}={getattr(self, name)!r} {rule}")


@dataclass(frozen=True)
class PersonState:
    track: int  # the tracked person's id, stable while they stay in view
    slot: int  # the tracker slot they occupy
    status: str  # warming_up, recognised or unknown
    label: str | None  # the class name when recognised
    confidence: float  # the smoothed probability of the best class (0 while warming up)
    top: tuple[tuple[str, float], ...]  # the best classes with smoothed probabilities, best first
    seconds_seen: float  # how long the buffer has shown this person


@dataclass(frozen=True)
class LiveUpdate:
    timestamp: float
    predicted: bool  # the model ran on this frame
    persons: tuple[PersonState, ...]  # everybody tracked now, by slot
    joint: bool = False  # one label for all persons together (a multi-person model)
    reset: bool = False  # a long gap reset the stream before this frame
    dropped_joints: int = 0  # joints made absent in this frame (NaN or infinite values)
    untracked: int = 0  # people in this frame beyond max_persons
    slots: tuple[int | None, ...] = ()  # for each person of the frame as sent: their slot (None: not tracked)


class LiveRecognizer:
    """Live labels for one stream (see the module docstring). Not thread-safe: one per stream."""

    def __init__(self, backend: Backend, source: SkeletonSource | None = None, config: LiveConfig = LiveConfig()):
        self.backend, self.config = backend, config
        self.contract = contract = backend.contract
        self.intake = FrameIntake(contract, source)
        self.pipeline = InferencePipeline(contract)
        self.seconds = float(config.seconds if config.seconds is not None else contract.clip_seconds)
        self.warmup_seconds = min(self.seconds, config.warmup_seconds if config.warmup_seconds is not None
                                  else contract.clip_seconds / 2)
        self.joint = contract.num_persons > 1
        self.tracker = PersonTracker(config.max_persons, max_cost=config.max_cost, max_jump=config.max_jump,
                                     forget_after=config.gap_seconds)
        self.buffer = ClipBuffer(config.max_persons, contract.num_joints, contract.coordinates,
                                 seconds=self.seconds, fps=contract.fps)
        self._history: dict[int, deque[np.ndarray]] = {}  # track id (-1: the group) -> recent probabilities
        self._labels: dict[int, PersonState] = {}  # track id -> its state at the last prediction
        self._last_time: float | None = None
        self._last_seen: float | None = None
        self._last_prediction: float | None = None
        self._frames_since_prediction = 0

    # ---- the stream -----------------------------------------------------------------------------
    def push(self, timestamp: float, persons: object, scores: object = None) -> LiveUpdate:
        """One frame: `persons` (P, V, C) in the source layout (P = 0: nobody), `scores` (P, V)
        where the detector gives them (a 2D model needs them).

        A bad frame raises `serve.stream.FrameError`; a model that fails to run raises its
        one-line `CocodiffError`. Either way the stream is left exactly as it was before the
        call, so the same frame may be sent again."""
        time = check_timestamp(timestamp, self._last_time)
        frame = self.intake.frame(time, persons, scores)
        saved = self._snapshot()
        try:
            return self._take(time, frame)
        except BaseException:
            self._restore(saved)
            raise

    def _take(self, time: float, frame: Frame) -> LiveUpdate:
        reset = self._reset_after_gap(time)
        self._last_time = time
        if len(frame.persons):
            self._last_seen = time
        for slot in self.tracker.forget(time):
            self.buffer.clear_slot(slot)
        slots = self.tracker.assign(time, frame.persons)
        poses = np.zeros(self.buffer.shape, dtype=np.float32)
        confidence = np.zeros(self.buffer.shape[:2], dtype=np.float32)
        for index, slot in enumerate(slots):
            if slot is not None:
                poses[slot] = frame.persons[index]
                confidence[slot] = frame.scores[index]
        if len(self.buffer) or len(frame.persons):  # nothing to keep before anybody appears
            self.buffer.append(time, poses, confidence)
        self._frames_since_prediction += 1
        predicted = self._due(time) and self._predict(time, force=False)
        sent = [None] * frame.sent
        for index, slot in zip(frame.kept, slots):
            sent[index] = slot
        return LiveUpdate(time, predicted, self._persons(), self.joint, reset, frame.dropped_joints,
                          sum(slot is None for slot in slots), tuple(sent))

    def flush(self) -> LiveUpdate:
        """Predict now on whatever the buffer holds, stride and warm-up aside (the end of a
        recording); an update with nobody if it holds no one."""
        if self._last_time is None:
            return LiveUpdate(0.0, False, (), self.joint)
        predicted = bool(len(self.buffer)) and self._predict(self._last_time, force=True)
        return LiveUpdate(self._last_time, predicted, self._persons(), self.joint)

    def reset(self) -> None:
        """Forget everything seen so far: buffer, tracks and labels (a long gap does this)."""
        self.buffer.clear()
        self.tracker.reset()
        self._history.clear()
        self._labels.clear()
        self._last_seen = self._last_prediction = None
        self._frames_since_prediction = 0

    def _snapshot(self) -> tuple:
        """What a frame can change, to put back if it fails half-way."""
        return (self.buffer.snapshot(), self.tracker.snapshot(), {k: deque(v, v.maxlen) for k, v in
                self._history.items()}, dict(self._labels), self._last_time, self._last_seen,
                self._last_prediction, self._frames_since_prediction)

    def _restore(self, saved: tuple) -> None:
        buffer, tracker, self._history, self._labels, self._last_time, self._last_seen, self._last_prediction, \
            self._frames_since_prediction = saved
        self.buffer.restore(buffer)
        self.tracker.restore(tracker)

    def _reset_after_gap(self, time: float) -> bool:
        if self._last_seen is not None and time - self._last_seen > self.config.gap_seconds:
            self.reset()
            return True
        return False

    def _due(self, time: float) -> bool:
        if self._last_prediction is None:
            return True
        if self.config.stride_frames > 0:
            return self._frames_since_prediction >= self.config.stride_frames
        return time - self._last_prediction >= self.config.stride_seconds - _EPSILON

    # ---- predictions ------------------------------------------------------------------------------
    def _tracked(self) -> list[tuple[int, int]]:
        """(slot, track id) of everybody tracked with frames in the buffer."""
        present = self.buffer.present()
        return [(slot, track.id) for slot, track in enumerate(self.tracker.tracks)
                if track is not None and present[slot]]

    def _predict(self, time: float, *, force: bool) -> bool:
        tracked = self._tracked()
        spans = {slot: self.buffer.span(slot) for slot, _ in tracked}
        if self.joint:
            ready = tracked if force or self.buffer.span() >= self.warmup_seconds - _EPSILON else []
        else:
            ready = [(slot, track) for slot, track in tracked
                     if force or spans[slot] >= self.warmup_seconds - _EPSILON]
        if not ready:
            return False
        clip = self.buffer.clip()
        if self.joint:  # the people the model sees together, in its training order; others wait
            order = self._slot_order([slot for slot, _ in ready], clip)[:self.contract.num_persons]
            ready = sorted((pair for pair in ready if pair[0] in order), key=lambda pair: order.index(pair[0]))
            groups = [(-1, ready, order)]
        else:
            groups = [(track, [(slot, track)], [slot]) for slot, track in ready]
        inputs = np.stack([self.pipeline(_persons_of(clip, slots)) for _, _, slots in groups])
        probabilities = softmax(self.backend.predict(inputs))
        for (key, members, _), row in zip(groups, probabilities):
            history = self._history.setdefault(key, deque(maxlen=self.config.smoothing))
            history.append(row)
            for slot, track in members:
                self._labels[track] = self._state(slot, track, np.mean(history, axis=0), spans[slot])
        self._last_prediction = time
        self._frames_since_prediction = 0
        return True

    def _slot_order(self, slots: list[int], clip: dict) -> list[int]:
        """The slots in the order the training data filled person slots (contract.person_order)."""
        order = self.contract.person_order
        if order == "motion":  # NTU's ranking: the variance of all joint positions over the body's frames
            def activity(slot: int) -> float:
                frames = clip["keypoint"][slot][person_present(clip["keypoint"][slot])]
                return float(np.var(frames.reshape(-1, frames.shape[-1]), axis=0).sum()) if len(frames) else 0.0
            return sorted(slots, key=activity, reverse=True)
        if order == "confidence":
            return sorted(slots, key=lambda slot: float(clip["keypoint_score"][slot].sum()), reverse=True)
        return sorted(slots, key=lambda slot: self.tracker.tracks[slot].first_seen)

    def _state(self, slot: int, track: int, probabilities: np.ndarray, seen: float) -> PersonState:
        classes = self.contract.classes
        best = np.argsort(-probabilities, kind="stable")[:self.config.top_k]
        top = tuple((classes[i], float(probabilities[i])) for i in best)
        confidence = top[0][1]
        known = confidence >= self.config.threshold
        return PersonState(track, slot, RECOGNISED if known else UNKNOWN, top[0][0] if known else None,
                           confidence, top, seen)

    def _persons(self) -> tuple[PersonState, ...]:
        """Everybody tracked now: their last label, or warming up."""
        tracked = self._tracked()
        ids = {track for _, track in tracked}
        for stale in [track for track in self._labels if track not in ids]:
            del self._labels[stale]
            self._history.pop(stale, None)
        states = []
        for slot, track in tracked:
            last = self._labels.get(track)
            seen = self.buffer.span(slot)
            if last is None:
                states.append(PersonState(track, slot, WARMING_UP, None, 0.0, (), seen))
            else:
                states.append(PersonState(track, slot, last.status, last.label, last.confidence, last.top, seen))
        return tuple(states)


def _persons_of(clip: dict, slots: list[int]) -> dict:
    return {"keypoint": clip["keypoint"][slots], "keypoint_score": clip["keypoint_score"][slots]}


def softmax(logits: np.ndarray) -> np.ndarray:
    """Probabilities (B, K) from logits (B, K), in float64."""
    values = np.asarray(logits, dtype=np.float64)
    values = np.exp(values - values.max(axis=1, keepdims=True))
    return values / values.sum(axis=1, keepdims=True)

