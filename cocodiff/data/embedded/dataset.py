"""The embedded default dataset: procedurally generated NTU-25 action clips, no files needed.

Every clip is one simulated person (`body.draw_body`) doing one action (`actions.ACTIONS`) with
their own tempo, amplitude, phase and repetition count, after and before some idle standing,
seen from a random angle, position and height by a random sensor (`sensor.py`: a Kinect v2, a
Kinect v1 or a monocular pose estimator, with their smooth drift, depth errors, tracking
glitches, made-up hand tips and the occasional dropped frame, all zeros as a Kinect writes it).

Samples follow `cocodiff.data.sample`: `keypoint` is float32 (2, T, 25, 3) in the Kinect camera
frame as NTU stores it (metres, +y up, +z away from the camera, +x to the camera's left). The
second person is all zeros: NTU clips have M = 2, so a model trained here takes NTU-shaped input
unchanged. Train and val use disjoint simulated subjects, like NTU's cross-subject split.

Each clip's random stream depends only on (seed, split, class, index), so a clip is the same
whatever the dataset size, and `embedded_clip` can rebuild one without generating the rest.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from cocodiff.data.annotations import Annotations
from cocodiff.data.embedded.actions import ACTIONS, CLASSES, Action
from cocodiff.data.embedded.body import (
    LAYOUT,
    Body,
    angle_names,
    bone_rotations,
    clamp,
    draw_body,
    forward_kinematics,
    rotation,
    stand_on_floor,
)
from cocodiff.data.embedded.sensor import Sensor, draw_sensor, observe
from cocodiff.data.embedded.timing import idle_pose, make_timing
from cocodiff.data.frames import KINECT
from cocodiff.data.sample import Sample
from cocodiff.errors import CocodiffError

DEFAULT_TRAIN_PER_CLASS = 128
DEFAULT_TEST_PER_CLASS = 16
SPLITS = ("train", "val")
_SPLIT_CODE = {"train": 1, "val": 2}
_SUBJECT_STREAM, _CLIP_STREAM = 101, 202  # keep subject and clip random streams apart


@dataclass(frozen=True)
class EmbeddedConfig:
    """What to generate. `None` per-class counts mean the defaults (48 train, 16 val)."""

    seed: int = 0
    train_per_class: int | None = None
    test_per_class: int | None = None
    train_subjects: int = 16
    test_subjects: int = 8
    fps: float = 30.0
    frames: tuple[int, int] = (40, 100)  # clip length range, frames
    height_m: tuple[float, float] = (1.5, 1.95)
    max_yaw_deg: float = 45.0  # subject turned up to this far from facing the camera
    sensor: bool = True  # False: the clean simulation, no sensor errors at all
    noise_scale: float = 1.0  # scales the sensor's jitter and drift
    drop_rate: float = 0.01  # chance per frame that a drop-out of 1-3 empty frames starts
    persons: int = 2  # M; persons after the first are all zeros

    def __post_init__(self) -> None:
        problems = []
        if not isinstance(self.seed, int) or self.seed < 0:
            problems.append(f"seed must be a non-negative integer, got {self.seed!r}")
        for name in ("train_per_class", "test_per_class"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                problems.append(f"{name} must be a positive integer, got {value!r}")
        for name in ("train_subjects", "test_subjects", "persons"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                problems.append(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if not 8 <= self.frames[0] <= self.frames[1]:
            problems.append(f"frames must be a range (low, high) with 8 <= low <= high, got {self.frames!r}")
        if not 0 < self.height_m[0] <= self.height_m[1]:
            problems.append(f"height_m must be a range of positive heights, got {self.height_m!r}")
        if self.fps <= 0 or self.noise_scale < 0 or not 0 <= self.drop_rate < 0.5 or not 0 <= self.max_yaw_deg <= 180:
            problems.append("fps must be > 0, noise_scale >= 0, drop_rate in [0, 0.5), max_yaw_deg in [0, 180]")
        if problems:
            raise CocodiffError("embedded dataset: " + "; ".join(problems))

    def per_class(self, split: str) -> int:
        if split == "train":
            return self.train_per_class or DEFAULT_TRAIN_PER_CLASS
        return self.test_per_class or DEFAULT_TEST_PER_CLASS

    def subjects(self, split: str) -> range:
        """Subject numbers of a split: train 1..n, val after them, so the two never overlap."""
        if split == "train":
            return range(1, self.train_subjects + 1)
        return range(self.train_subjects + 1, self.train_subjects + self.test_subjects + 1)


@dataclass(frozen=True)
class View:
    """Where the Kinect sees the person from."""

    yaw: float  # degrees the subject is turned about the vertical (0 = facing the camera)
    x: float  # metres, sideways offset of the subject
    depth: float  # metres from the camera
    camera_height: float  # metres above the floor
    tilt: float  # degrees the camera looks down (negative: up)
    roll: float  # degrees, camera roll

    def to_camera(self, positions: np.ndarray) -> np.ndarray:
        """Body-frame (T, V, 3) positions (floor at y = 0) -> Kinect camera coordinates.

        A camera that looks down sees a standing person's feet farther away than their head,
        as in NTU, where the legs of a standing subject lean back by 15-20 degrees.
        """
        turned = positions @ rotation(1, self.yaw).T
        placed = turned + np.array([self.x, -self.camera_height, self.depth])
        camera = rotation(2, self.roll) @ rotation(0, -self.tilt)
        return placed @ camera.T


def draw_view(rng: np.random.Generator, max_yaw_deg: float = 45.0) -> View:
    """A random camera placement, from a laptop on a desk to a Kinect on a shelf; the camera is
    aimed at the person's middle, give or take, or held level."""
    depth, height = float(rng.uniform(1.8, 4.2)), float(rng.uniform(0.6, 2.0))
    aimed = np.degrees(np.arctan2(height - 0.9, depth))
    tilt = float(rng.uniform(-4, 6) + (aimed if rng.random() < 0.6 else rng.uniform(-0.3, 0.6) * aimed))
    return View(yaw=float(rng.uniform(-max_yaw_deg, max_yaw_deg)), x=float(rng.uniform(-0.5, 0.5)),
                depth=depth, camera_height=height, tilt=tilt, roll=float(rng.uniform(-4, 4)))


@dataclass(frozen=True)
class Clip:
    """Everything about one generated clip; `sample` is what goes into a dataset."""

    sample: Sample
    action: Action
    body: Body
    view: View
    angles: dict[str, np.ndarray]  # clamped joint angles per frame (degrees)
    clean: np.ndarray  # (T, V, 3) camera-frame positions before the sensor
    dropped: np.ndarray  # (T,) bool
    sensor: Sensor | None  # None for a clean clip (config.sensor False)


def find_action(action: str | int) -> Action:
    """An action by class name or 0-based index, or a one-line error listing the classes."""
    if isinstance(action, (int, np.integer)) and not isinstance(action, bool):
        if 0 <= action < len(ACTIONS):
            return ACTIONS[int(action)]
        raise CocodiffError(f"class index {action} is out of range: the embedded dataset has classes 0..{len(ACTIONS) - 1}")
    if action in CLASSES:
        return ACTIONS[CLASSES.index(action)]
    raise CocodiffError(f"unknown class {action!r}; the embedded classes are: {', '.join(CLASSES)}")


def simulate_clip(action: str | int, rng: np.random.Generator, body: Body | None = None, view: View | None = None,
                  config: EmbeddedConfig = EmbeddedConfig(), name: str = "embedded") -> Clip:
    """Generate one clip; `body` and `view` are drawn from `rng` when not given."""
    action = find_action(action)
    body = body if body is not None else draw_body(rng, config.height_m)
    timing = make_timing(action, rng, config.fps, config.frames)
    pose = idle_pose(body.posture, angle_names(), rng, timing.frames, config.fps)
    pose, lift = action.move(pose, timing, rng, body)
    angles = clamp(pose)
    view = view if view is not None else draw_view(rng, config.max_yaw_deg)
    clean = view.to_camera(stand_on_floor(forward_kinematics(body, bone_rotations(angles), timing.frames), body, lift))
    sensor = draw_sensor(rng, config.drop_rate, config.noise_scale) if config.sensor else None
    if sensor is None:
        noisy, dropped = clean, np.zeros(timing.frames, dtype=bool)
    else:
        noisy, dropped = observe(clean, sensor, rng, config.fps)
    keypoint = np.zeros((config.persons, timing.frames, LAYOUT.num_joints, 3), dtype=np.float32)
    keypoint[0] = noisy
    sample = {"frame_dir": name, "label": CLASSES.index(action.name), "keypoint": keypoint,
              "total_frames": timing.frames}
    return Clip(sample, action, body, view, angles, clean, dropped, sensor)


def generate_clip(action: str | int, rng: np.random.Generator, body: Body | None = None, view: View | None = None,
                  config: EmbeddedConfig = EmbeddedConfig(), name: str = "embedded") -> Sample:
    """One sample dict: keypoint (M, T, 25, 3) float32 with M = `config.persons`, label, frame_dir, total_frames."""
    return simulate_clip(action, rng, body, view, config, name).sample


def subject_body(config: EmbeddedConfig, subject: int) -> Body:
    return draw_body(np.random.default_rng([config.seed, _SUBJECT_STREAM, subject]), config.height_m)


def _clip_subject(config: EmbeddedConfig, split: str, label: int, index: int) -> int:
    subjects = config.subjects(split)
    return subjects[(index + label) % len(subjects)]  # every class sees every subject


def clip_name(label: int, subject: int, index: int) -> str:
    return f"emb_A{label + 1:02d}_P{subject:02d}_{index:03d}"


def embedded_clip(config: EmbeddedConfig, split: str, label: int | str, index: int,
                  body: Body | None = None) -> Clip:
    """Clip number `index` of one class in one split, exactly as `embedded_annotations` makes it."""
    if split not in SPLITS:
        raise CocodiffError(f"unknown split {split!r}; the embedded dataset has {', '.join(SPLITS)}")
    label = CLASSES.index(find_action(label).name)
    count = config.per_class(split)
    if not isinstance(index, (int, np.integer)) or not 0 <= index < count:
        raise CocodiffError(f"clip index {index} is out of range: split {split!r} has {count} clips per class (0..{count - 1})")
    subject = _clip_subject(config, split, label, index)
    body = body if body is not None else subject_body(config, subject)
    rng = np.random.default_rng([config.seed, _CLIP_STREAM, _SPLIT_CODE[split], label, index])
    return simulate_clip(label, rng, body=body, config=config, name=clip_name(label, subject, index))


def embedded_annotations(config: EmbeddedConfig = EmbeddedConfig()) -> Annotations:
    """The whole dataset in the annotation format (splits "train" and "val")."""
    bodies = {s: subject_body(config, s) for split in SPLITS for s in config.subjects(split)}
    annotations, split_names = [], {split: [] for split in SPLITS}
    for split in SPLITS:
        for label in range(len(ACTIONS)):
            for index in range(config.per_class(split)):
                subject = _clip_subject(config, split, label, index)
                sample = embedded_clip(config, split, label, index, body=bodies[subject]).sample
                annotations.append(sample)
                split_names[split].append(sample["frame_dir"])
    settings = dataclasses.asdict(config)
    settings.update(train_per_class=config.per_class("train"), test_per_class=config.per_class("val"))
    meta = {"layout": LAYOUT.name, "classes": list(CLASSES), "dataset": "embedded",
            "source": "cocodiff.data.embedded", "seed": config.seed, "fps": config.fps,
            "frame": KINECT.to_dict(), "person_order": "recorded",
            "subjects": {split: list(config.subjects(split)) for split in SPLITS}, "config": settings}
    return {"split": split_names, "annotations": annotations, "meta": meta}
