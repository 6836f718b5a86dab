"""What a training run promises its deployment: the model's options and its deployment contract."""

from __future__ import annotations

from typing import Any

import torch

from cocodiff import __version__
from cocodiff.config import TrainConfig
from cocodiff.contract import DeploymentContract
from cocodiff.data.dataset import DataSplits
from cocodiff.models.build import supported_options


def backbone_options(config: TrainConfig) -> dict[str, Any]:
    """The backbone's constructor options (besides layout, channels and classes) for `config`:
    the shared ones, and those of the config that this backbone's encoder takes."""
    model = config.model
    extra = {"unit_dropout": model.unit_dropout} if model.unit_dropout else {}  # absent at 0: older contracts match
    return supported_options(model.backbone, base_channels=model.base_channels, dropout=model.dropout,
                             num_persons=config.data.num_persons, **extra)


def training_contract(config: TrainConfig, data: DataSplits) -> DeploymentContract:
    """The contract a run's checkpoints carry: its data's layout, frame and timing, its
    preprocessing, and how to rebuild its network."""
    return DeploymentContract(
        classes=tuple(data.classes), layout=data.layout.name, joints=data.layout.joints, frame=data.frame,
        window=config.data.window, num_persons=config.data.num_persons, person_order=data.person_order,
        modality=config.data.modality, in_channels=data.in_channels, score_channel=config.data.use_score,
        pre_normalize=config.data.pre_normalize, eval_crop_ratio=config.data.eval_crop_ratio, fps=data.fps,
        clip_seconds=round(data.clip_seconds, 4), backbone=config.model.backbone,
        backbone_options=backbone_options(config), dataset=data.dataset,
        versions={"cocodiff": __version__, "torch": torch.__version__.split("+")[0]})
