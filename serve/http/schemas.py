"""The HTTP API's bodies, as pydantic models: what OpenAPI documents and what requests are checked
against before any array is built. Shapes and values are checked afterwards, against the model's
contract (`serve.http.arrays`), because they depend on the layout the request names."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

MAX_FRAMES_PER_PUSH = 300  # ten seconds at 30 fps in one request


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Source(_Strict):
    layout: str | None = Field(None, description="joint layout of the data (ntu25, kinect20, coco17, openpose18, "
                                                  "mediapipe33); default: the model's")
    frame: str | None = Field(None, description="coordinate frame: kinect, mediapipe_world or image; default: the "
                                                "model's if the layout is the model's, else the layout's usual one")


class ClipRequest(Source):
    keypoint: list[Any] = Field(description="a whole clip, (M, T, V, C): persons, frames, joints, coordinates")
    keypoint_score: list[Any] | None = Field(None, description="(M, T, V) detector confidences, for a 2D model")
    top_k: int = Field(5, ge=1, le=1000, strict=True)


class ClassScore(BaseModel):
    name: str
    probability: float


class ClipResponse(BaseModel):
    top: list[ClassScore]
    frames: int
    persons: int


class SessionRequest(Source):
    fps: float | None = Field(None, gt=0, le=1000, strict=True,
                              description="the stream's nominal frame rate (informative: timestamps rule)")


class FrameIn(_Strict):
    timestamp: float = Field(ge=0, strict=True, description="seconds, increasing within a session")
    persons: list[Any] = Field(description="(P, V, C) in the session's layout; [] when nobody is in view")
    scores: list[Any] | None = Field(None, description="(P, V) detector confidences (a 2D model needs them)")


class FramesRequest(_Strict):
    frames: list[FrameIn] = Field(min_length=1, max_length=MAX_FRAMES_PER_PUSH)


class PersonOut(BaseModel):
    track: int
    slot: int
    status: str = Field(description="warming_up, recognised or unknown")
    label: str | None
    confidence: float
    top: list[ClassScore]
    seconds_seen: float


class SessionState(BaseModel):
    session: str
    layout: str
    frame: str
    fps: float | None
    frames: int = Field(description="frames pushed so far")
    timestamp: float | None = Field(description="the last frame's timestamp")
    predicted: bool = Field(description="the model ran on the last frame pushed")
    persons: list[PersonOut]
    idle_timeout_s: float


class Health(BaseModel):
    status: str
