"""The `data` section of the training config: which clips, and how they are prepared.

Read by `cocodiff.data.dataset.load_data` and `cocodiff.data.pipelines.train_pipeline`; part of
`cocodiff.config.TrainConfig`, which loads it from YAML and overrides.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass
class DataConfig:
    # "embedded" for the built-in procedural dataset, else an annotation .pkl file.
    dataset: str = "embedded"
    train_split: str = "train"
    val_split: str = "val"
    # a class-stratified share of the training split (the low-data regime), the same clips in every
    # run; 1 = all of it
    train_fraction: float = 1.0
    layout: str | None = None  # needed only for files without meta (PYSKL / MMAction2)
    classes: str = ""  # a text file of class names, one a line in label order; "" = the file's own meta
    modality: Literal["joint", "bone", "joint_motion", "bone_motion"] = "joint"
    window: int = 32  # frames fed to the model (published NTU recipe: 64)
    num_persons: int = 1  # person slots fed to the model (NTU: 2; the embedded clips show one)
    use_score: bool = False  # 2D pose: append keypoint_score as a channel (x, y, score), as ST-GCN
    pre_normalize: bool = True  # centre, spine vertical, shoulders horizontal
    crop_ratio: tuple[float, float] = (0.75, 1.0)  # training: random crop of the valid frames
    eval_crop_ratio: float = 0.95  # evaluation: centred crop, resized to `window`
    rotate: float = 0.3  # training: max random rotation (radians) about each axis; 0 = off
    workers: int = 0  # DataLoader worker processes
    embedded_seed: int = 0  # the embedded dataset's own seed (its content, not the run's)
    fps: float = 0.0  # the clips' frame rate; 0 = the file's own (meta "fps"), required where it has none
    # how the clips fill person slots: motion, confidence or recorded; "" = the file's own, else recorded
    person_order: Literal["", "motion", "confidence", "recorded"] = ""

    def rules(self) -> list[tuple[str, bool, str]]:
        """(field, whether its value is in range, the requirement) for this section's fields;
        `cocodiff.config.check_config` turns the first broken one into a one-line error."""
        return [
            ("window", self.window >= 1, "must be at least 1"),
            ("num_persons", self.num_persons >= 1, "must be at least 1"),
            ("crop_ratio", 0 < self.crop_ratio[0] <= self.crop_ratio[1] <= 1, "must satisfy 0 < low <= high <= 1"),
            ("eval_crop_ratio", 0 < self.eval_crop_ratio <= 1, "must be in (0, 1]"),
            ("rotate", self.rotate >= 0, "must be >= 0 radians"),
            ("workers", self.workers >= 0, "must be >= 0"),
            ("embedded_seed", self.embedded_seed >= 0, "must be >= 0"),
            ("fps", self.fps >= 0, "must be >= 0 (0: the data's own frame rate)"),
            ("train_fraction", 0 < self.train_fraction <= 1, "must be in (0, 1]"),
        ]
