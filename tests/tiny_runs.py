"""Tiny training runs for tests: a config of 3 steps per epoch (batch 8 of 24 clips), width 8."""

from __future__ import annotations

from pathlib import Path

from cocodiff.cli import run_cli
from cocodiff.train import main


def tiny(data: Path, out: Path, name: str, *extra: str) -> list[str]:
    return [f"data.dataset={data}", f"out_dir={out}", f"name={name}", "model.base_channels=8", "data.window=16",
            "optim.batch_size=8", "optim.epochs=2", "optim.warmup_epochs=1", "optim.milestones=[2]", "threads=1",
            *extra]


def train(argv: list[str], capsys) -> tuple[int, str, str]:
    """`python -m cocodiff.train ARGV` in this process: (exit code, stdout, stderr)."""
    code = run_cli(main, argv)
    out, err = capsys.readouterr()
    return code, out, err


def contract_for(classes, layout: str = "ntu25", *, in_channels: int = 3, num_persons: int = 1, window: int = 16,
                 modality: str = "joint", pre_normalize: bool = True, eval_crop_ratio: float = 0.95,
                 backbone: str = "ctrgcn", backbone_options: dict | None = None, dataset: str = "test",
                 score_channel: bool = False, fps: float = 30.0, clip_seconds: float = 2.0,
                 person_order: str = "recorded", frame=None):
    """A deployment contract for tests, with the embedded data's frame unless told otherwise."""
    from cocodiff.contract import DeploymentContract
    from cocodiff.data.frames import default_frame
    from cocodiff.data.layouts import get_layout

    return DeploymentContract(
        classes=tuple(classes), layout=layout, joints=get_layout(layout).joints,
        frame=frame or default_frame(in_channels - (1 if score_channel else 0)), window=window,
        num_persons=num_persons, person_order=person_order, modality=modality, in_channels=in_channels,
        score_channel=score_channel, pre_normalize=pre_normalize, eval_crop_ratio=eval_crop_ratio, fps=fps,
        clip_seconds=clip_seconds, backbone=backbone, backbone_options=backbone_options or {}, dataset=dataset,
        versions={"cocodiff": "test"})


def untrained_checkpoint(path: Path, seed: int = 0) -> Path:
    """An untrained tiny CTR-GCN (width 8, window 16) on the embedded classes, saved as a checkpoint."""
    import torch

    from cocodiff.checkpoint import save_checkpoint
    from cocodiff.config import TrainConfig, config_to_dict
    from cocodiff.data.embedded import CLASSES
    from cocodiff.models import build_backbone

    torch.manual_seed(seed)
    options = {"base_channels": 8, "num_persons": 1, "dropout": 0.0}
    model = build_backbone("ctrgcn", "ntu25", 3, len(CLASSES), **options)
    contract = contract_for(CLASSES, backbone_options=options, dataset="embedded")
    save_checkpoint(path, model=model.state_dict(), contract=contract, config=config_to_dict(TrainConfig()))
    return path
