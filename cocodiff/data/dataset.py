"""Datasets for training: the splits of a data source as a torch Dataset over a pipeline.

`load_data(data_config)` reads the source the config names (the embedded dataset, or an
annotation file), checks its layout against the config, validates every sample of the two
splits and returns them with what the deployment contract needs to know of the data: class
names, coordinate frame, frame rate, how person slots are ordered and how long clips last. `SkeletonDataset` turns one split into model
input through a pipeline (`cocodiff.data.pipelines`).

Randomness: an item is asked for by the key `(epoch, index)`, and the training pipeline gets a
generator seeded with (seed, epoch, index) only. A sample's augmentation is therefore the same
whichever loader worker or training process prepares it, which is what lets a resumed run and
a multi-process run reproduce a single uninterrupted one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import torch
from torch.utils.data import Dataset

from cocodiff.data.annotations import file_fps, file_frame, file_layout, load_annotations, split_samples
from cocodiff.data.class_map import read_class_names
from cocodiff.data.frames import CoordinateFrame
from cocodiff.data.layouts import Layout, get_layout
from cocodiff.data.sample import Sample
from cocodiff.data.transforms import valid_frames
from cocodiff.errors import CocodiffError, DataError

if TYPE_CHECKING:
    from cocodiff.data.config import DataConfig

_AUGMENT_STREAM = 7919  # keeps the augmentation stream apart from other uses of the same seed


@dataclass
class DataSplits:
    train: list[Sample]
    val: list[Sample]
    layout: Layout
    classes: list[str]
    dataset: str  # "embedded" or the file's meta "dataset" (else its file name)
    in_channels: int
    fps: float  # the clips' frame rate
    frame: CoordinateFrame  # the clips' coordinate frame
    person_order: str  # how the clips fill their person slots (see cocodiff.contract)
    notes: tuple[str, ...] = ()  # what was inferred about the data, for the run's banner

    @property
    def clip_seconds(self) -> float:
        """The median duration of the training clips' valid spans (first to last non-empty frame)."""
        return float(np.median([max(valid_frames(s["keypoint"]), 1) for s in self.train])) / self.fps


def load_data(data: DataConfig) -> DataSplits:
    """The config's train and val splits, validated; every problem is one `CocodiffError`."""
    if data.dataset == "embedded":
        from cocodiff.data.embedded import EmbeddedConfig, embedded_annotations

        content = embedded_annotations(EmbeddedConfig(seed=data.embedded_seed))
        source: str | os.PathLike = "embedded dataset"
    else:
        source = data.dataset
        content = load_annotations(source)
    layout = _layout(content, source, data.layout)
    train = split_samples(content, data.train_split, source, layout)
    val = split_samples(content, data.val_split, source, layout)
    if not train:
        raise DataError(source, f"split {data.train_split!r} is empty")
    if data.train_fraction < 1:
        train = stratified_share(train, data.train_fraction)
    if not val:
        raise DataError(source, f"split {data.val_split!r} is empty")
    channels = {sample["keypoint"].shape[-1] for sample in train + val}
    if len(channels) > 1:
        raise DataError(source, f"samples mix 2D and 3D coordinates ({sorted(channels)} channels)")
    classes, notes = _classes(content, train + val, source, data.classes)
    name = content["meta"].get("dataset") or os.path.basename(str(source))
    in_channels = channels.pop()
    if data.use_score:
        unscored = next((s["frame_dir"] for s in train + val if s.get("keypoint_score") is None), None)
        if unscored is not None:
            raise DataError(source, f"data.use_score=true, but sample {unscored!r} has no keypoint_score")
        in_channels += 1
    frame = file_frame(content, source, in_channels - (1 if data.use_score else 0))
    fps = file_fps(content, source, data.fps or None, "set data.fps, e.g. data.fps=30 for Kinect recordings")
    return DataSplits(train, val, layout, classes, str(name), in_channels, fps, frame,
                      data.person_order or str(content["meta"].get("person_order", "recorded")), notes)


def stratified_share(samples: list[Sample], fraction: float, seed: int = 0) -> list[Sample]:
    """About `fraction` of each class's samples (at least one), drawn with a fixed seed, in the
    split's order: the same clips whatever the run's seed, so seeds vary training, not data."""
    rng = np.random.default_rng(seed)
    by_class: dict[int, list[int]] = {}
    for index, sample in enumerate(samples):
        by_class.setdefault(int(sample.get("label", -1)), []).append(index)
    kept: set[int] = set()
    for label in sorted(by_class):
        indices = by_class[label]
        count = max(1, round(fraction * len(indices)))
        kept.update(int(i) for i in rng.choice(indices, size=count, replace=False))
    return [sample for index, sample in enumerate(samples) if index in kept]


def _layout(content: dict[str, Any], source, wanted: str | None) -> Layout:
    own = content["meta"].get("layout")
    if wanted is not None and own is not None and wanted != own:
        raise DataError(source, f"the file holds layout {own!r} but the config asks for data.layout={wanted!r}")
    if wanted is not None:
        get_layout(wanted)  # a one-line error for an unknown name
    return file_layout(content, source, wanted)


def _classes(content: dict[str, Any], samples: list[Sample], source, names_file: str) -> tuple[list[str], tuple[str, ...]]:
    """The class names, and notes on what was inferred. Without names the count is the highest
    label + 1; labels that leave more than a quarter of that range empty are refused, as a stray
    label (999) would otherwise make a 1000-class model."""
    if any("label" not in sample for sample in samples):
        missing = next(sample for sample in samples if "label" not in sample)
        raise DataError(source, f"sample {missing.get('frame_dir')!r} has no 'label'")
    labels = sorted({int(sample["label"]) for sample in samples})
    highest = labels[-1]
    own = content["meta"].get("classes")
    if names_file:
        classes = read_class_names(names_file)
        if highest >= len(classes):
            raise DataError(names_file, f"names {len(classes)} classes, but {source} has label {highest}")
        notes = [f"class names from {names_file} ({len(classes)} classes)"]
        if own is not None and [str(c) for c in own] != classes:
            notes.append(f"they replace the {len(own)} names {source} carries")
        return classes, tuple(notes)
    if own is not None:
        if highest >= len(own):
            raise DataError(source, f"label {highest} is out of range: the file names {len(own)} classes")
        return [str(name) for name in own], ()
    unused = highest + 1 - len(labels)
    if unused > (highest + 1) / 4:
        raise DataError(source, f"names no classes and its labels run to {highest} with {unused} of 0..{highest} "
                                "unused; a stray label? Give the class names with data.classes=FILE (one a line)")
    note = f"{source} names no classes: {highest + 1} inferred from labels 0..{highest}"
    if unused:
        note += f" ({unused} with no clip)"
    return [f"class {i}" for i in range(highest + 1)], (note + "; name them with data.classes=FILE",)


class SkeletonDataset(Dataset):
    """One split as model input. `dataset[(epoch, index)]` -> (float32 tensor (M, T, V, C), label).

    `pipeline` is called as `pipeline(sample, rng)` when `augment` is true (training) and as
    `pipeline(sample)` otherwise; a plain integer key means epoch 0.
    """

    def __init__(self, samples: list[Sample], pipeline: Callable, *, seed: int = 0, augment: bool = False):
        self.samples = samples
        self.pipeline = pipeline
        self.seed = seed
        self.augment = augment

    def __len__(self) -> int:
        return len(self.samples)

    def sample_rng(self, epoch: int, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, _AUGMENT_STREAM, epoch, index])

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, int]:
        epoch, index = key if isinstance(key, tuple) else (0, key)
        sample = self.samples[index]
        try:
            if self.augment:
                array = self.pipeline(sample, self.sample_rng(epoch, index))
            else:
                array = self.pipeline(sample)
        except CocodiffError as error:
            raise CocodiffError(f"sample {sample.get('frame_dir', index)!r}: {error}") from None
        return torch.from_numpy(array), int(sample["label"])
