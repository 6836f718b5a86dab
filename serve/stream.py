"""Frame intake: one timestamped frame of a stream, checked and brought into the model's terms.

A frame is the people seen at one instant: coordinates (P, V, C) in the stream's source layout
and coordinate frame (P = 0 when nobody is in view), and confidences (P, V) where the detector
gives them (a 2D model needs them). The intake checks it, makes NaN or infinite joints absent
(the rule of `cocodiff.data.transforms.drop_nonfinite`: such a joint is treated as absent, as
zeros already are), converts it into the model's coordinate frame, retargets it to the model's
layout, and drops people left with fewer than two joints (nothing to track or recognise).

A frame that cannot be used raises `FrameError` (a one-line `CocodiffError` naming the problem)
and changes nothing: the stream goes on with the next frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cocodiff.contract import DeploymentContract
from cocodiff.data.frames import convert_points
from cocodiff.data.layouts import get_layout
from cocodiff.data.pipelines import SkeletonSource
from cocodiff.data.retarget import retargeting
from cocodiff.data.transforms import joint_present
from cocodiff.data.transforms.presence import nonfinite_to_absent
from cocodiff.errors import CocodiffError


class FrameError(CocodiffError):
    """A frame the stream refuses; the stream's state is as it was before it."""


@dataclass(frozen=True)
class Frame:
    """One frame in the model's layout and coordinate frame."""

    timestamp: float
    persons: np.ndarray  # float32 (P, V, C): the people with at least two joints present
    scores: np.ndarray  # float32 (P, V): the detector's confidences, or 1 where it gave none
    dropped_joints: int  # joints made absent because a value was NaN or infinite
    kept: tuple[int, ...] = ()  # for each person here, their index in the frame as it was sent
    sent: int = 0  # people in the frame as it was sent


def check_timestamp(timestamp: object, previous: float | None) -> float:
    """`timestamp` in seconds as a float, strictly after `previous`; FrameError otherwise."""
    if isinstance(timestamp, bool) or not isinstance(timestamp, (int, float, np.integer, np.floating)):
        raise FrameError(f"timestamp must be a number of seconds, got {timestamp!r}")
    value = float(timestamp)
    if not math.isfinite(value):
        raise FrameError(f"timestamp must be finite, got {value}")
    if previous is not None and value <= previous:
        raise FrameError(f"timestamp {value:.6g} s is not after the previous frame's {previous:.6g} s "
                         "(timestamps must increase)")
    return value


class FrameIntake:
    """Checks and converts frames of one source for the model `contract` describes."""

    def __init__(self, contract: DeploymentContract, source: SkeletonSource | None = None):
        self.contract = contract
        self.source = source or SkeletonSource(contract.layout, contract.frame)
        if self.source.frame.dims != contract.coordinates:
            raise CocodiffError(f"the stream sends {self.source.frame.dims}D coordinates "
                                f"({self.source.frame.describe()}), the model reads {contract.coordinates}D "
                                f"({contract.frame.describe()})")
        self.source_layout = get_layout(self.source.layout)
        self._retargeting = retargeting(self.source.layout, contract.layout)

    @property
    def joint_shape(self) -> tuple[int, int]:
        """(V, C) of one person as the source sends it."""
        return self.source_layout.num_joints, self.source.frame.dims

    def frame(self, timestamp: float, persons: object, scores: object = None) -> Frame:
        joints, channels = self.joint_shape
        try:
            points = np.asarray(persons, dtype=np.float32)
        except (TypeError, ValueError):
            raise FrameError(f"persons must be a numeric array (P, {joints}, {channels}) in layout "
                             f"{self.source.layout}") from None
        if points.size == 0:
            points = points.reshape(0, joints, channels)
        if points.ndim == 2:
            points = points[None]  # one person, given as (V, C)
        if points.ndim != 3 or points.shape[1:] != (joints, channels):
            raise FrameError(f"persons of shape {list(points.shape)}; layout {self.source.layout} in "
                             f"{channels}D takes (P, {joints}, {channels})")
        points, confidence, bad = nonfinite_to_absent(points, self._scores(scores, points.shape[0]))
        if self.source.frame != self.contract.frame:  # first: see cocodiff.data.pipelines.adapt_to
            points = convert_points(points, self.source.frame, self.contract.frame)
        points, confidence = self._retargeting.apply(points, confidence)
        seen = joint_present(points).sum(axis=-1) >= 2
        return Frame(timestamp, np.ascontiguousarray(points[seen]), np.ascontiguousarray(confidence[seen]),
                     int(bad.sum()), tuple(int(index) for index in np.flatnonzero(seen)), len(seen))

    def _scores(self, scores: object, count: int) -> np.ndarray:
        joints = self.source_layout.num_joints
        if scores is None:
            if self.contract.score_channel and count:
                raise FrameError(f"the model reads a confidence channel: send scores (P, {joints}) with the persons")
            return np.ones((count, joints), dtype=np.float32)
        try:
            values = np.asarray(scores, dtype=np.float32)
        except (TypeError, ValueError):
            raise FrameError(f"scores must be a numeric array (P, {joints})") from None
        if values.size == 0:
            values = values.reshape(0, joints)
        if values.ndim == 1 and count == 1:
            values = values[None]
        if values.shape != (count, joints):
            raise FrameError(f"scores of shape {list(values.shape)}, expected ({count}, {joints}) for {count} "
                             f"person(s)")
        return values
