"""The preprocessing of a clip into model input: one sequence of steps for training and inference.

    drop non-finite -> (retarget, convert frame) -> pre_normalize -> crop-resize to the window
        -> (training: random rotation) -> modality -> (score channel) -> persons

Both pipelines end in a float32 array (M, T, V, C) with M = num_persons and T = window, ready to
stack into a batch. They share `preprocess`: the training pipeline fills its crop step with a
random crop and adds a random rotation, the inference pipeline takes the centred crop. With
augmentation switched off the training pipeline *is* the inference pipeline, step for step
(tested).

`InferencePipeline(contract)` is what evaluation, export checks, serving and the demo run, so
they preprocess a skeleton exactly as training did. Given a `SkeletonSource` (the layout and
coordinate frame of the clips fed to it), it first retargets them to the contract's layout and
converts them into the contract's frame. NaN and infinite coordinates make their joint absent
(zeros), so they never reach the model.

The training pipeline takes its randomness from the generator it is called with; the dataset
derives one per (seed, epoch, sample), so the augmentation of a sample does not depend on the
number of worker or training processes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from cocodiff.data.frames import CoordinateFrame, convert_points
from cocodiff.data.layouts import Layout, get_layout
from cocodiff.data.retarget import retarget
from cocodiff.data.sample import Sample
from cocodiff.data.transforms import (
    append_score,
    center_crop_resize,
    compose,
    drop_nonfinite,
    pad_persons,
    pre_normalize,
    random_crop_resize,
    random_rotate,
    to_modality,
)
from cocodiff.data.transforms.pipeline import Compose, Step
from cocodiff.data.transforms.presence import keypoint_of
from cocodiff.errors import CocodiffError

if TYPE_CHECKING:  # the data package does not depend on the training config at run time
    from cocodiff.data.config import DataConfig
    from cocodiff.contract import DeploymentContract


def model_input(sample: Sample) -> np.ndarray:
    """The last step of every pipeline: the keypoint array, float32 and contiguous."""
    return np.ascontiguousarray(sample["keypoint"], dtype=np.float32)


def _identity(sample: Sample) -> Sample:
    return sample


def preprocess(layout: Layout, *, num_persons: int, modality: str, pre_normalize_clip: bool, score_channel: bool,
               crop: Step, augment: Step = _identity, adapt: Step = _identity) -> Compose:
    """The steps every pipeline runs, with its own `crop` (to the window), `augment` and `adapt`
    (retargeting clips of another layout or frame)."""
    return compose(
        drop_nonfinite,
        adapt,
        partial(pre_normalize, layout=layout) if pre_normalize_clip else _identity,
        crop,
        augment,
        partial(to_modality, layout=layout, name=modality),
        append_score if score_channel else _identity,
        partial(pad_persons, num_persons=num_persons),
        model_input,
    )


class TrainPipeline:
    """`pipeline(sample, rng) -> float32 (M, T, V, C)`; picklable, for loader workers.

    With `augment=False` it is deterministic (`pipeline(sample)`): the centred evaluation crop
    and no rotation, exactly the inference pipeline."""

    def __init__(self, layout: Layout, *, window: int, num_persons: int, modality: str, pre_normalize: bool,
                 crop_ratio: tuple[float, float], eval_crop_ratio: float, rotate: float, use_score: bool = False,
                 augment: bool = True):
        self.layout = layout
        self.window = window
        self.num_persons = num_persons
        self.modality = modality
        self.pre_normalize = pre_normalize
        self.crop_ratio = tuple(crop_ratio)
        self.eval_crop_ratio = eval_crop_ratio
        self.rotate = rotate
        self.use_score = use_score
        self.augment = augment

    def steps(self, rng: np.random.Generator | None) -> Compose:
        if self.augment and rng is None:
            raise CocodiffError("the augmenting training pipeline needs a random generator")
        if self.augment:
            low, high = self.crop_ratio
            crop = partial(random_crop_resize, rng=rng, window=self.window, min_ratio=low, max_ratio=high)
            augment = partial(random_rotate, rng=rng, max_angle=self.rotate) if self.rotate > 0 else _identity
        else:
            crop, augment = partial(center_crop_resize, window=self.window, ratio=self.eval_crop_ratio), _identity
        return preprocess(self.layout, num_persons=self.num_persons, modality=self.modality,
                          pre_normalize_clip=self.pre_normalize, score_channel=self.use_score, crop=crop,
                          augment=augment)

    def __call__(self, sample: Sample, rng: np.random.Generator | None = None) -> np.ndarray:
        return self.steps(rng)(sample)

    def __repr__(self) -> str:
        return (f"TrainPipeline(layout={self.layout.name}, window={self.window}, num_persons={self.num_persons}, "
                f"modality={self.modality}, pre_normalize={self.pre_normalize}, crop_ratio={self.crop_ratio}, "
                f"eval_crop_ratio={self.eval_crop_ratio}, rotate={self.rotate}, use_score={self.use_score}, "
                f"augment={self.augment})")


def train_pipeline(data: DataConfig, layout: Layout | str, *, augment: bool = True) -> TrainPipeline:
    """The training pipeline of a data config: random crop-resize and rotation (unless `augment`
    is false)."""
    layout = get_layout(layout) if isinstance(layout, str) else layout
    return TrainPipeline(layout, window=data.window, num_persons=data.num_persons, modality=data.modality,
                         pre_normalize=data.pre_normalize, crop_ratio=data.crop_ratio,
                         eval_crop_ratio=data.eval_crop_ratio, rotate=data.rotate, use_score=data.use_score,
                         augment=augment)


# ---- inference -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SkeletonSource:
    """The layout and coordinate frame of clips fed to a model trained on another."""

    layout: str
    frame: CoordinateFrame

    def __post_init__(self) -> None:
        get_layout(self.layout)  # a one-line error for an unknown name


def adapt_to(sample: Sample, source: SkeletonSource, layout: str, frame: CoordinateFrame) -> Sample:
    """The sample converted into `frame`, then retargeted from `source.layout` to `layout`.

    In that order: a hip-centred source (MediaPipe's world landmarks) has its hip midpoint at
    exactly (0, 0, 0), which would read as an absent joint if it were a joint; in the model's
    frame it is not (see cocodiff.data.frames)."""
    keypoint = keypoint_of(sample)
    if keypoint.shape[-1] != source.frame.dims:
        raise CocodiffError(f"clip has {keypoint.shape[-1]} coordinates per joint, but its source frame "
                            f"({source.frame.describe()}) is {source.frame.dims}D")
    result = dict(sample)
    if source.frame != frame:
        result["keypoint"] = convert_points(keypoint, source.frame, frame)
    return retarget(result, source.layout, layout)


@dataclass(frozen=True)
class InferencePipeline:
    """`pipeline(sample) -> float32 (M, T, V, C)` for the model `contract` describes: the centred
    crop, no augmentation. Two pipelines are equal when their contracts and sources are."""

    contract: DeploymentContract
    source: SkeletonSource | None = None
    _steps: Compose = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        contract = self.contract
        layout = get_layout(contract.layout)
        adapt: Step = _identity
        if self.source is not None and (self.source.layout, self.source.frame) != (contract.layout, contract.frame):
            adapt = partial(adapt_to, source=self.source, layout=contract.layout, frame=contract.frame)
        steps = preprocess(layout, num_persons=contract.num_persons, modality=contract.modality,
                           pre_normalize_clip=contract.pre_normalize, score_channel=contract.score_channel,
                           crop=partial(center_crop_resize, window=contract.window, ratio=contract.eval_crop_ratio),
                           adapt=adapt)
        object.__setattr__(self, "_steps", steps)

    @property
    def steps(self) -> Compose:
        return self._steps

    def __call__(self, sample: Sample) -> np.ndarray:
        return self._steps(sample)
