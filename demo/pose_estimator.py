"""MediaPipe Pose on video frames: RGB images in, `PoseFrame`s out.

    with MediaPipePose(pose_model_path(), num_poses=2) as pose:
        for timestamp, rgb in frames:            # seconds, uint8 (H, W, 3) in RGB order
            frame = pose.detect(rgb, timestamp)

The landmarker runs in VIDEO mode, which tracks people from one frame to the next (faster and
steadier than detecting in every frame) and so needs timestamps that increase: a timestamp that
does not is moved just past the previous one, so a jittery clock never stops the stream. One
landmarker serves one stream; it is closed explicitly (left to the garbage collector at exit,
MediaPipe prints a traceback).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from cocodiff.errors import CocodiffError, first_line
from demo.landmarks import NUM_LANDMARKS, PoseFrame
from demo.native_output import quiet_native_stderr
from demo.pose_model import check_pose_model


class MediaPipePose:
    def __init__(self, model_path: str | os.PathLike, *, num_poses: int = 2, min_confidence: float = 0.5):
        if not 1 <= num_poses <= 4:
            raise CocodiffError(f"num_poses={num_poses}: must be 1 to 4")
        path = check_pose_model(Path(model_path))
        from mediapipe.tasks.python.core.base_options import BaseOptions
        from mediapipe.tasks.python.vision import PoseLandmarker, PoseLandmarkerOptions, RunningMode

        options = PoseLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(path)), running_mode=RunningMode.VIDEO,
            num_poses=num_poses, min_pose_detection_confidence=min_confidence,
            min_pose_presence_confidence=min_confidence, min_tracking_confidence=min_confidence)
        try:
            with quiet_native_stderr():
                self._landmarker = PoseLandmarker.create_from_options(options)
        except (RuntimeError, ValueError) as error:
            raise CocodiffError(f"{path}: MediaPipe cannot load this pose model ({first_line(error)})") from None
        self.num_poses = num_poses
        self._last_ms: int | None = None
        self._quiet_frames = 2

    def detect(self, rgb: np.ndarray, timestamp: float) -> PoseFrame:
        """The people in `rgb` (uint8 (H, W, 3), RGB), seen at `timestamp` seconds."""
        import mediapipe as mp

        if self._landmarker is None:
            raise CocodiffError("this pose estimator was closed")
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise CocodiffError(f"a video frame must be uint8 (H, W, 3) RGB, got {rgb.dtype} {rgb.shape}")
        milliseconds = int(round(timestamp * 1000))
        if self._last_ms is not None and milliseconds <= self._last_ms:
            milliseconds = self._last_ms + 1
        self._last_ms = milliseconds
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))
        if self._quiet_frames > 0:  # the first frames print LiteRT warnings too
            self._quiet_frames -= 1
            with quiet_native_stderr():
                result = self._landmarker.detect_for_video(image, milliseconds)
        else:
            result = self._landmarker.detect_for_video(image, milliseconds)
        height, width = rgb.shape[:2]
        return _pose_frame(result, timestamp, (width, height))

    def close(self) -> None:
        if self._landmarker is not None:
            with quiet_native_stderr():
                self._landmarker.close()
            self._landmarker = None

    def __enter__(self) -> MediaPipePose:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _pose_frame(result, timestamp: float, size: tuple[int, int]) -> PoseFrame:
    people = len(result.pose_landmarks)
    image = np.zeros((people, NUM_LANDMARKS, 2), np.float32)
    visibility = np.zeros((people, NUM_LANDMARKS), np.float32)
    world = np.zeros((people, NUM_LANDMARKS, 3), np.float32)
    for person, (marks, metric) in enumerate(zip(result.pose_landmarks, result.pose_world_landmarks)):
        image[person] = [(mark.x, mark.y) for mark in marks]
        visibility[person] = [mark.visibility if mark.visibility is not None else 1.0 for mark in marks]
        world[person] = [(mark.x, mark.y, mark.z) for mark in metric]
    return PoseFrame(timestamp, image, np.clip(visibility, 0.0, 1.0), world, size)
