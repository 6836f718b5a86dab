"""Request values into arrays the runtime takes, or a `BadRequest` that says what is wrong.

JSON gives nested lists; here they become float32 arrays of the shape the request's layout and
the model's contract call for, with every value finite (JSON parsers accept NaN, Infinity and
1e999; the model must never see them). The source a request names (layout and coordinate
frame) is resolved here too.
"""

from __future__ import annotations

import numpy as np

from cocodiff.contract import DeploymentContract
from cocodiff.data.frames import IMAGE, KINECT, MEDIAPIPE_WORLD, NAMED_FRAMES, CoordinateFrame, named_frame
from cocodiff.data.layouts import LAYOUTS, get_layout
from cocodiff.data.pipelines import SkeletonSource
from cocodiff.errors import CocodiffError


class BadRequest(CocodiffError):
    """A request the server refuses, with the HTTP status to answer (4xx) and one clear message."""

    def __init__(self, message: str, status: int = 422):
        super().__init__(message)
        self.status = status


def frame_name(frame: CoordinateFrame) -> str:
    return next((name for name, known in NAMED_FRAMES.items() if known == frame), frame.describe())


def resolve_source(contract: DeploymentContract, layout: str | None, frame: str | None) -> SkeletonSource:
    """The source a request names; by default the model's own layout and frame."""
    layout = layout or contract.layout
    if layout not in LAYOUTS:
        raise BadRequest(f"unknown layout {layout!r}; known layouts: {', '.join(LAYOUTS)}")
    if frame is None:
        if layout == contract.layout:
            return SkeletonSource(layout, contract.frame)
        frame_value = _usual_frame(layout, contract.coordinates)
    else:
        try:
            frame_value = named_frame(frame)
        except CocodiffError as error:
            raise BadRequest(str(error)) from None
    return SkeletonSource(layout, frame_value)


def _usual_frame(layout: str, coordinates: int) -> CoordinateFrame:
    if layout in ("coco17", "openpose18") or coordinates == 2:
        return IMAGE
    return MEDIAPIPE_WORLD if layout == "mediapipe33" else KINECT


def as_array(values: object, name: str, shape: tuple[int | None, ...], meaning: str) -> np.ndarray:
    """`values` as a finite float32 array of `shape` (None: any size); `meaning` names the axes
    for the message."""
    try:
        raw = np.asarray(values)
        if raw.size and raw.dtype.kind not in "iuf":  # booleans, strings, objects (ragged, huge integers)
            raise ValueError(raw.dtype)
        with np.errstate(over="ignore"):  # too large for float32: becomes inf, refused below
            array = raw.astype(np.float32)
    except (TypeError, ValueError, OverflowError):
        raise BadRequest(f"{name} must be a rectangular array of numbers {meaning}") from None
    if array.size == 0 and shape and shape[0] in (None, 0):  # nobody: [] for any (0, ...) shape
        array = array.reshape(0, *[size or 0 for size in shape[1:]])
    if array.ndim != len(shape) or any(size is not None and got != size for got, size in zip(array.shape, shape)):
        raise BadRequest(f"{name} has shape {list(array.shape)}; expected {meaning} = "
                         f"[{', '.join('any' if size is None else str(size) for size in shape)}]")
    if not np.isfinite(array).all():
        raise BadRequest(f"{name} holds NaN or infinite values (or numbers too large for float32)")
    return array


def joint_shape(source: SkeletonSource) -> tuple[int, int]:
    return get_layout(source.layout).num_joints, source.frame.dims
