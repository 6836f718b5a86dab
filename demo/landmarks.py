"""One frame of MediaPipe Pose output, and what of it a model is fed.

MediaPipe gives, per person, 33 landmarks twice: image landmarks (x and y normalised to the image's
width and height, origin top-left, with a visibility in [0, 1]) and world landmarks (metres,
origin between the hips, +x to the image's right, +y down, +z away from the camera). A 3D model
is fed the world landmarks; a 2D model the image landmarks with visibility as the confidence
channel its training data had. `SkeletonSource`s name those two inputs for the live recogniser,
which retargets and converts them exactly as evaluation does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cocodiff.contract import DeploymentContract
from cocodiff.data.frames import IMAGE, MEDIAPIPE_WORLD
from cocodiff.data.pipelines import SkeletonSource
from cocodiff.errors import CocodiffError

NUM_LANDMARKS = 33
WORLD_SOURCE = SkeletonSource("mediapipe33", MEDIAPIPE_WORLD)
IMAGE_SOURCE = SkeletonSource("mediapipe33", IMAGE)


@dataclass(frozen=True)
class PoseFrame:
    """The people found in one video frame (P may be 0)."""

    timestamp: float  # seconds
    image: np.ndarray  # float32 (P, 33, 2): normalised image x, y
    visibility: np.ndarray  # float32 (P, 33) in [0, 1]
    world: np.ndarray | None  # float32 (P, 33, 3) metres, hip-centred; None where the source has none
    size: tuple[int, int] | None = None  # the frame's (width, height) in pixels, where known

    def __post_init__(self) -> None:
        people = self.image.shape[0]
        if self.image.shape != (people, NUM_LANDMARKS, 2) or self.visibility.shape != (people, NUM_LANDMARKS):
            raise ValueError(f"pose frame arrays disagree: image {self.image.shape}, visibility {self.visibility.shape}")
        if self.world is not None and self.world.shape != (people, NUM_LANDMARKS, 3):
            raise ValueError(f"pose frame arrays disagree: image {self.image.shape}, world {self.world.shape}")

    @property
    def num_people(self) -> int:
        return int(self.image.shape[0])

    @classmethod
    def empty(cls, timestamp: float, size: tuple[int, int] | None = None, *, world: bool = True) -> PoseFrame:
        return cls(timestamp, np.zeros((0, NUM_LANDMARKS, 2), np.float32), np.zeros((0, NUM_LANDMARKS), np.float32),
                   np.zeros((0, NUM_LANDMARKS, 3), np.float32) if world else None, size)


@dataclass(frozen=True)
class ModelFeed:
    """Which of MediaPipe's outputs a model takes, as the recogniser's source."""

    source: SkeletonSource
    uses_world: bool

    def persons(self, frame: PoseFrame) -> tuple[np.ndarray, np.ndarray | None]:
        """(persons, scores) for `LiveRecognizer.push`: (P, 33, C) and (P, 33) or None."""
        if self.uses_world:
            if frame.world is None:
                raise CocodiffError("this pose source gives image landmarks only, but the model is 3D and needs "
                                    "MediaPipe's world landmarks (record them with `python -m demo.record`)")
            return frame.world, None
        return frame.image, frame.visibility


def model_feed(contract: DeploymentContract) -> ModelFeed:
    """World landmarks for a 3D model, image landmarks with visibility for a 2D one."""
    if contract.coordinates == 3:
        return ModelFeed(WORLD_SOURCE, uses_world=True)
    if contract.coordinates == 2:
        return ModelFeed(IMAGE_SOURCE, uses_world=False)
    raise CocodiffError(f"the model takes {contract.coordinates} coordinates per joint; MediaPipe gives 2D or 3D")
