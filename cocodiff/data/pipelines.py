"""The preprocessing of a clip into model input, for training and for evaluation / live use.

    pre_normalize -> crop-resize to the window -> (train: random rotation) -> modality -> persons

Both pipelines end in a float32 array (M, T, V, C) with M = num_persons and T = window, ready to
stack into a batch. The evaluation pipeline is deterministic and is built from a checkpoint's
`meta` alone (`eval_pipeline(meta)`), so evaluation, export checks and the live recogniser
preprocess a skeleton exactly as training did. The training pipeline takes its randomness from
the generator it is called with; the dataset derives one per (seed, epoch, sample), so the
augmentation of a sample does not depend on the number of worker or training processes.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from cocodiff.data.layouts import Layout, get_layout
from cocodiff.data.sample import Sample
from cocodiff.data.transforms import (
    append_score,
    center_crop_resize,
    compose,
    pad_persons,
    pre_normalize,
    random_crop_resize,
    random_rotate,
    to_modality,
)
from cocodiff.data.transforms.pipeline import Compose
from cocodiff.errors import CocodiffError

if TYPE_CHECKING:  # the data package does not depend on the training config at run time
    from cocodiff.config import DataConfig


def model_input(sample: Sample) -> np.ndarray:
    """The last step of every pipeline: the keypoint array, float32 and contiguous."""
    return np.ascontiguousarray(sample["keypoint"], dtype=np.float32)


def _identity(sample: Sample) -> Sample:
    return sample


class TrainPipeline:
    """`pipeline(sample, rng) -> float32 (M, T, V, C)`; picklable, for loader workers."""

    def __init__(self, layout: Layout, *, window: int, num_persons: int, modality: str, pre_normalize: bool,
                 crop_ratio: tuple[float, float], rotate: float, use_score: bool = False):
        self.layout = layout
        self.window = window
        self.num_persons = num_persons
        self.modality = modality
        self.pre_normalize = pre_normalize
        self.crop_ratio = tuple(crop_ratio)
        self.rotate = rotate
        self.use_score = use_score

    def steps(self, rng: np.random.Generator) -> Compose:
        low, high = self.crop_ratio
        return compose(
            partial(pre_normalize, layout=self.layout) if self.pre_normalize else _identity,
            partial(random_crop_resize, rng=rng, window=self.window, min_ratio=low, max_ratio=high),
            partial(random_rotate, rng=rng, max_angle=self.rotate) if self.rotate > 0 else _identity,
            partial(to_modality, layout=self.layout, name=self.modality),
            append_score if self.use_score else _identity,
            partial(pad_persons, num_persons=self.num_persons),
            model_input,
        )

    def __call__(self, sample: Sample, rng: np.random.Generator) -> np.ndarray:
        return self.steps(rng)(sample)

    def __repr__(self) -> str:
        return (f"TrainPipeline(layout={self.layout.name}, window={self.window}, num_persons={self.num_persons}, "
                f"modality={self.modality}, pre_normalize={self.pre_normalize}, crop_ratio={self.crop_ratio}, "
                f"rotate={self.rotate}, use_score={self.use_score})")


def train_pipeline(data: DataConfig, layout: Layout | str) -> TrainPipeline:
    """The training pipeline of a data config: random crop-resize and rotation."""
    layout = get_layout(layout) if isinstance(layout, str) else layout
    return TrainPipeline(layout, window=data.window, num_persons=data.num_persons, modality=data.modality,
                         pre_normalize=data.pre_normalize, crop_ratio=data.crop_ratio, rotate=data.rotate,
                         use_score=data.use_score)


def eval_pipeline(meta: Mapping[str, Any]) -> Compose:
    """`pipeline(sample) -> float32 (M, T, V, C)` from a checkpoint's `meta` (see
    `cocodiff.checkpoint.deployment_meta`): centred crop-resize, no augmentation."""
    missing = [key for key in ("layout", "window", "num_persons", "modality", "pre_normalize", "eval_crop_ratio")
               if key not in meta]
    if missing:
        raise CocodiffError(f"checkpoint meta lacks {', '.join(missing)}: cannot rebuild its preprocessing")
    layout = get_layout(meta["layout"])
    return compose(
        partial(pre_normalize, layout=layout) if meta["pre_normalize"] else _identity,
        partial(center_crop_resize, window=int(meta["window"]), ratio=float(meta["eval_crop_ratio"])),
        partial(to_modality, layout=layout, name=meta["modality"]),
        append_score if meta.get("use_score", False) else _identity,
        partial(pad_persons, num_persons=int(meta["num_persons"])),
        model_input,
    )


def preprocess_meta(data: DataConfig, layout: Layout | str) -> dict[str, Any]:
    """The part of the checkpoint meta that `eval_pipeline` reads, from a data config."""
    return {
        "layout": layout if isinstance(layout, str) else layout.name,
        "window": data.window,
        "num_persons": data.num_persons,
        "modality": data.modality,
        "pre_normalize": data.pre_normalize,
        "eval_crop_ratio": data.eval_crop_ratio,
        "use_score": data.use_score,
    }
