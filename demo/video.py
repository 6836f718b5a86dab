"""Video files in and out: decoded frames as RGB arrays with their timestamps, and annotated clips
written in a format browsers play (VP8 in WebM: OpenCV's wheels carry no H.264 encoder)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from cocodiff.atomic import atomic_open, atomic_path
from cocodiff.errors import CocodiffError
from demo.native_output import quiet_native_stderr

_FALLBACK_FPS = 30.0


@dataclass(frozen=True)
class VideoInfo:
    path: str
    fps: float
    frames: int  # as the container says (may be an estimate; 0 where unknown)
    width: int
    height: int


def _capture(path: str | os.PathLike):
    import cv2

    source = Path(path)
    if not source.is_file():
        raise CocodiffError(f"{source}: video file not found")
    capture = cv2.VideoCapture(str(source))
    if not capture.isOpened() or capture.get(cv2.CAP_PROP_FRAME_WIDTH) <= 0:
        capture.release()
        raise CocodiffError(f"{source}: not a video file this build of OpenCV can read")
    return capture


def video_info(path: str | os.PathLike) -> VideoInfo:
    import cv2

    capture = _capture(path)
    try:
        fps = capture.get(cv2.CAP_PROP_FPS)
        return VideoInfo(str(path), fps if 1 <= fps <= 1000 else _FALLBACK_FPS,
                         max(0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT))),
                         int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    finally:
        capture.release()


def read_video(path: str | os.PathLike, *, flip: bool = False, size: tuple[int, int] | None = None,
               limit: int | None = None) -> Iterator[tuple[float, np.ndarray]]:
    """(timestamp in seconds, uint8 RGB (H, W, 3)) for each frame of the file, in order.

    `flip` mirrors each frame left-right (for recordings that were mirrored, such as NTU RGB+D's
    videos against their Kinect skeletons; never for a live camera). `size` = (width, height)
    resizes; `limit` stops after that many frames. A file with no decodable frame is an error."""
    import cv2

    info = video_info(path)
    capture = _capture(path)
    count = 0
    try:
        while limit is None or count < limit:
            ok, bgr = capture.read()
            if not ok:
                break
            if size is not None and (bgr.shape[1], bgr.shape[0]) != tuple(size):
                bgr = cv2.resize(bgr, tuple(size), interpolation=cv2.INTER_AREA)
            if flip:
                bgr = bgr[:, ::-1]
            yield count / info.fps, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            count += 1
    finally:
        capture.release()
    if count == 0:
        raise CocodiffError(f"{path}: the video holds no frame that can be decoded")


def prefetch(frames: Iterator[tuple[float, np.ndarray]], depth: int = 4) -> Iterator[tuple[float, np.ndarray]]:
    """`frames`, decoded up to `depth` ahead in a second thread (OpenCV decodes without the GIL,
    so decoding overlaps the pose estimation of the frame before). Errors arrive in order."""
    import queue
    import threading

    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            for item in frames:
                while not stop.is_set():
                    try:
                        slots.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            slots.put(done)
        except BaseException as error:  # handed to the consumer, raised there
            slots.put(error)

    worker = threading.Thread(target=produce, name="video-prefetch", daemon=True)
    worker.start()
    try:
        while (item := slots.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join(timeout=5)


def write_y4m(video: str | os.PathLike, out: str | os.PathLike, *, size: tuple[int, int] = (640, 480),
              frames: int | None = None, fps: int = 30) -> Path:
    """`video` as a YUV4MPEG2 file (I420), the format Chromium's fake camera plays
    (`--use-file-for-fake-video-capture`): a browser test, or a camera-less demo, sees a real clip."""
    import cv2

    width, height = size
    with atomic_open(out) as handle:
        handle.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for _, rgb in read_video(video, size=size, limit=frames):
            handle.write(b"FRAME\n" + cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420).tobytes())
    return Path(out)


class WebmWriter:
    """Frames (uint8 RGB) into a VP8 WebM file that appears at `path` in one rename on `close()`;
    `abort()` (or an error) leaves nothing behind."""

    def __init__(self, path: str | os.PathLike, fps: float, size: tuple[int, int]):
        import cv2

        self.path, self.size = Path(path), (int(size[0]), int(size[1]))
        self._target = atomic_path(self.path)
        temporary = self._target.__enter__()
        with quiet_native_stderr():
            self._writer = cv2.VideoWriter(str(temporary), cv2.VideoWriter_fourcc(*"VP80"), float(fps), self.size)
        if not self._writer.isOpened():
            self.abort()
            raise CocodiffError(f"{self.path}: OpenCV cannot write VP8 WebM video here")

    def write(self, rgb: np.ndarray) -> None:
        import cv2

        if (rgb.shape[1], rgb.shape[0]) != self.size:
            raise ValueError(f"frame of {rgb.shape[1]}x{rgb.shape[0]} into a {self.size[0]}x{self.size[1]} video")
        self._writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))

    def close(self) -> Path:
        self._writer.release()
        self._target.__exit__(None, None, None)
        return self.path

    def abort(self) -> None:
        self._writer.release()
        try:
            self._target.__exit__(CocodiffError, CocodiffError("aborted"), None)
        except CocodiffError:
            pass
