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


def untrained_checkpoint(path: Path, seed: int = 0) -> Path:
    """An untrained tiny CTR-GCN (width 8, window 16) on the embedded classes, saved as a checkpoint."""
    import torch

    from cocodiff.checkpoint import deployment_meta, save_checkpoint
    from cocodiff.config import TrainConfig, config_to_dict
    from cocodiff.data.embedded import CLASSES
    from cocodiff.models import build_backbone

    torch.manual_seed(seed)
    options = {"base_channels": 8, "num_persons": 1, "dropout": 0.0}
    model = build_backbone("ctrgcn", "ntu25", 3, len(CLASSES), **options)
    meta = deployment_meta(classes=list(CLASSES), layout="ntu25", in_channels=3, num_persons=1, window=16,
                           modality="joint", pre_normalize=True, eval_crop_ratio=0.95, backbone="ctrgcn",
                           backbone_options=options, dataset="embedded")
    save_checkpoint(path, model=model.state_dict(), meta=meta, config=config_to_dict(TrainConfig()))
    return path
