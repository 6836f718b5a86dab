"""Transforms on the sample dict (see `cocodiff.data.sample`), PYSKL style.

Every transform is a plain function of a sample (plus explicit arguments) that returns a *new*
dict and never writes into its input; arrays it does not change may be shared with the input.
Randomness only ever comes from an explicit `rng: np.random.Generator`. The same functions serve
training and live inference, so they accept every layout, 2D and 3D, any number of frames
T >= 1 and persons M >= 1, and keep absent joints and persons (all-zero coordinates) at zero.

- presence: `drop_nonfinite`, `joint_present`, `person_present`, `frame_mask`, `valid_range`, `valid_frames`,
  `pad_persons`
- geometry: `rotate`, `rotation_2d`, `rotation_xyz`, `rotation_about`, `rotation_between`
- normalize: `pre_normalize`
- augment: `random_rotate`
- temporal: `random_crop_resize`, `center_crop_resize`, `resample`, `crop_positions`
- modality: `to_bone`, `to_motion`, `to_modality`, `append_score`, `MODALITIES`
- pipeline: `compose`, `Compose`
"""

from cocodiff.data.transforms.augment import random_rotate
from cocodiff.data.transforms.geometry import rotate, rotation_2d, rotation_about, rotation_between, rotation_xyz
from cocodiff.data.transforms.modality import MODALITIES, append_score, to_bone, to_modality, to_motion
from cocodiff.data.transforms.normalize import pre_normalize
from cocodiff.data.transforms.pipeline import Compose, compose
from cocodiff.data.transforms.presence import (
    drop_nonfinite,
    frame_mask,
    joint_present,
    pad_persons,
    person_present,
    valid_frames,
    valid_range,
)
from cocodiff.data.transforms.temporal import (
    center_crop_resize,
    crop_positions,
    random_crop_resize,
    resample,
)

__all__ = [
    "MODALITIES",
    "Compose",
    "append_score",
    "center_crop_resize",
    "compose",
    "crop_positions",
    "drop_nonfinite",
    "frame_mask",
    "joint_present",
    "pad_persons",
    "person_present",
    "pre_normalize",
    "random_crop_resize",
    "random_rotate",
    "resample",
    "rotate",
    "rotation_2d",
    "rotation_about",
    "rotation_between",
    "rotation_xyz",
    "to_bone",
    "to_modality",
    "to_motion",
    "valid_frames",
    "valid_range",
]
