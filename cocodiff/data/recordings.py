"""One recorded clip with what is known about how it was recorded: layout, coordinate frame, rate.

`read_recording` takes a dataset's raw file (an NTU RGB+D `.skeleton`, an NW-UCLA or
Kinetics-Skeleton `.json`, a UTD-MHAD `.mat`) or one clip of an annotation file (`.pkl`, or the
embedded dataset), so a clip can be replayed through the live recogniser, or compared with a
model trained on another layout, without preparing a whole dataset first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from cocodiff.data.frames import IMAGE, KINECT, CoordinateFrame
from cocodiff.data.sample import Sample
from cocodiff.errors import CocodiffError, DataError

EMBEDDED = "embedded"
_UCLA_NAME = re.compile(r"a\d{2}_s\d{2}_e\d{2}_v\d{2}")


@dataclass
class Recording:
    sample: Sample  # keypoint (M, T, V, C), label and frame_dir where known
    layout: str
    frame: CoordinateFrame
    fps: float
    classes: list[str] | None  # the class names its label refers to, where known
    source: str  # for messages


def read_recording(path: str, split: str | None = None, index: int = 0, *, fps: float | None = None,
                   layout: str | None = None) -> Recording:
    """The recording at `path` (`split` and `index` pick a clip of an annotation file or of the
    embedded dataset); one-line errors for an unknown kind of file. `fps` and `layout` stand in
    for what a file without meta (PYSKL, MMAction2) does not say; `fps` also overrides a raw
    file's nominal rate."""
    if path == EMBEDDED or path.endswith(".pkl"):
        if split is None:
            raise CocodiffError(f"{path}: name the split to take clip {index} from (--split NAME)")
        return _from_annotations(path, split, index, fps, layout)
    recording = _from_file(Path(path))
    if fps is not None:
        recording.fps = float(fps)
    return recording


def _from_file(file: Path) -> Recording:
    if not file.exists():
        raise DataError(file, "no such file")
    suffix = file.suffix.lower()
    if suffix == ".skeleton":
        from cocodiff.data.readers.ntu import FPS, read_ntu_skeleton
        from cocodiff.data.readers.ntu_classes import NTU120_CLASSES

        return Recording(read_ntu_skeleton(file), "ntu25", KINECT, FPS, list(NTU120_CLASSES), str(file))
    if suffix == ".json" and _UCLA_NAME.fullmatch(file.stem):
        from cocodiff.data.readers.ucla import CLASSES, FPS, read_ucla_json

        return Recording(read_ucla_json(file), "kinect20", KINECT, FPS, list(CLASSES), str(file))
    if suffix == ".json":
        from cocodiff.data.readers.kinetics import FPS, read_kinetics_clip

        return Recording(read_kinetics_clip(file, max_persons=2), "openpose18", IMAGE, FPS, None, str(file))
    if suffix == ".mat":
        from cocodiff.data.readers.utd import CLASSES, FPS, read_utd_mat

        return Recording(read_utd_mat(file), "kinect20", KINECT, FPS, list(CLASSES), str(file))
    raise DataError(file, "not a recording cocodiff reads (.skeleton, .json, .mat, an annotation .pkl or 'embedded')")


def _from_annotations(path: str, split: str, index: int, fps: float | None, layout_name: str | None) -> Recording:
    from cocodiff.data.annotations import file_fps, file_frame, file_layout, load_annotations, split_samples

    if path == EMBEDDED:
        from cocodiff.data.embedded import EmbeddedConfig, embedded_annotations

        content, source = embedded_annotations(EmbeddedConfig()), "embedded dataset"
    else:
        content, source = load_annotations(path), path
    layout = file_layout(content, source, layout_name)
    samples = split_samples(content, split, source, layout)
    if not 0 <= index < len(samples):
        raise CocodiffError(f"{source}: split {split!r} has {len(samples)} clips, no clip {index}")
    sample = samples[index]
    frame = file_frame(content, source, sample["keypoint"].shape[-1])
    fps = file_fps(content, source, fps, "pass it (--fps 30)")
    classes = content["meta"].get("classes")
    return Recording(sample, layout.name, frame, fps, None if classes is None else [str(c) for c in classes],
                     f"{source} [{split} {index}: {sample.get('frame_dir', index)}]")
