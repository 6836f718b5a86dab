"""A whole video through the live path: every frame posed, recognised and drawn, in order.

    result = annotate_clip("talk.mp4", backend, pose_model_path(), out="talk.annotated.webm")
    result.to_dict()        # the label timeline and the labels at the end, per person

What the upload tab and the programmatic `classify_clip` endpoint run. Timestamps are the
video's own (frame index / frame rate), so a clip is recognised as it would be live at that rate,
however long the processing takes. At the end the recogniser predicts once more on what its
buffer holds (`LiveRecognizer.flush`), which gives each person's label for the clip's last
`clip_seconds`. A video with nobody in it is a result ("no person in view"), not an error.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from demo.drawing import TimelineEntry, draw_timeline
from demo.session import NO_PERSON, DemoConfig, LiveSession, PersonView, person_view
from demo.video import WebmWriter, read_video, video_info
from serve.backends import Backend

Progress = Callable[[int, int], None]  # (frames done, frames in all; 0 where unknown)


@dataclass(frozen=True)
class ClipResult:
    source: str
    video: Path | None  # the annotated clip, where one was asked for
    frames: int
    fps: float
    people_seen: int  # frames in which MediaPipe found somebody
    changes: tuple[TimelineEntry, ...]  # every label change, per row
    final: tuple[PersonView, ...]  # each person's label at the end of the clip
    timeline: np.ndarray  # the whole clip's label timeline as an image

    @property
    def duration(self) -> float:
        return self.frames / self.fps

    @property
    def headline(self) -> str:
        if not self.people_seen:
            return f"{NO_PERSON} in this video"
        if not self.final:
            return "nobody stayed in view long enough to be recognised"
        return "; ".join(f"person {p.row + 1}: {p.text}" for p in self.final)

    def to_dict(self) -> dict:
        return {"source": self.source, "frames": self.frames, "fps": round(self.fps, 3),
                "duration_s": round(self.duration, 3), "frames_with_people": self.people_seen,
                "headline": self.headline, "final": [p.to_dict() for p in self.final],
                "timeline": [{"t": round(e.timestamp, 3), "person": e.row + 1, "label": e.label} for e in self.changes]}


def annotate_clip(path: str | os.PathLike, backend: Backend, pose_model: str | Path, *,
                  out: str | os.PathLike | None = None, flip: bool = False, config: DemoConfig = DemoConfig(),
                  progress: Progress | None = None, max_frames: int | None = None) -> ClipResult:
    """Annotate the video at `path` (see the module docstring). `flip` un-mirrors a recording that
    was stored mirrored; `out` (a `.webm` path) receives the annotated clip."""
    info = video_info(path)
    total = min(info.frames, max_frames) if max_frames else info.frames
    session = LiveSession(backend, pose_model, config)
    writer = WebmWriter(out, info.fps, (info.width, info.height)) if out is not None else None
    frames = seen = 0
    try:
        for timestamp, rgb in read_video(path, flip=flip, limit=max_frames):
            view = session.process(rgb, timestamp)
            frames += 1
            seen += view.detected > 0
            if writer is not None:
                writer.write(view.image)
            if progress is not None:
                progress(frames, total)
        final = session.recognizer.flush()
        rows = {person.track: person.row for person in view.people}
        people = tuple(person_view(person, rows.get(person.track, person.slot)) for person in final.persons)
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    finally:
        session.close()
    video = writer.close() if writer is not None else None
    changes = tuple(session.history)
    timeline = draw_timeline(changes, frames / info.fps, max(frames / info.fps, 1e-3), rows=config.num_poses)
    return ClipResult(str(path), video, frames, info.fps, seen, changes, people, timeline)
