"""A published-width model with trained-like random weights, saved as a real checkpoint.

The benchmarks time real code paths (checkpoint loading, export, the live recogniser) on a
network of the published size without training one for hours: `trained_like` gives its
batch-norm statistics and weights a trained model's scale.
"""

from __future__ import annotations

from pathlib import Path

LAYOUT, PERSONS, CLASSES, BASE_CHANNELS, WINDOW = "ntu25", 2, 60, 64, 64  # NTU-60, CTR-GCN's recipe


def synthetic_checkpoint(path: Path, backbone: str = "ctrgcn", *, base_channels: int = BASE_CHANNELS,
                         persons: int = PERSONS, classes: int = CLASSES, window: int = WINDOW,
                         clip_seconds: float = 3.0) -> Path:
    """An NTU-style (ntu25, Kinect frame, 30 fps) checkpoint of `backbone` at `path`."""
    import torch  # here, not above: the onnxruntime benchmark workers must not load torch

    from cocodiff import __version__
    from cocodiff.checkpoint import save_checkpoint
    from cocodiff.contract import DeploymentContract
    from cocodiff.data.frames import KINECT
    from cocodiff.data.layouts import get_layout
    from cocodiff.models import build_recognizer, supported_options

    torch.manual_seed(0)
    options = supported_options(backbone, base_channels=base_channels, num_persons=persons)
    model = build_recognizer(backbone, LAYOUT, 3, classes, **options)
    trained_like(model, get_layout(LAYOUT).num_joints, persons=persons)
    contract = DeploymentContract(
        classes=tuple(f"action {i}" for i in range(classes)), layout=LAYOUT, joints=get_layout(LAYOUT).joints,
        frame=KINECT, window=window, num_persons=persons, person_order="motion", modality="joint", in_channels=3,
        score_channel=False, pre_normalize=True, eval_crop_ratio=0.95, fps=30.0, clip_seconds=clip_seconds,
        backbone=backbone, backbone_options=options, dataset="synthetic",
        versions={"cocodiff": __version__, "torch": torch.__version__.split("+")[0]})
    save_checkpoint(path, model=model.eval().state_dict(), contract=contract, config={})
    return path


def model_files(workdir: Path, name: str, **options) -> tuple[Path, Path]:
    """`workdir/NAME.pt` (a `synthetic_checkpoint` with `options`) and its verified ONNX export,
    made once and reused while this cocodiff can read them."""
    from cocodiff.checkpoint import load_checkpoint
    from cocodiff.errors import CocodiffError
    from export.exporter import export_onnx
    from export.metadata import read_metadata

    checkpoint, onnx_file = workdir / f"{name}.pt", workdir / f"{name}.onnx"
    try:
        load_checkpoint(checkpoint)
        read_metadata(onnx_file)
    except CocodiffError:  # missing, or written by another version
        synthetic_checkpoint(checkpoint, **options)
        export_onnx(checkpoint, onnx_file, verify=True)
    return checkpoint, onnx_file


def trained_like(model, joints: int, seed: int = 0, persons: int = 2):
    """Random weights with the statistics of a trained network: CTR-GCN's alpha at 0.5, BN
    scales near 1, and BN running statistics measured on random clips (so activations stay
    normalised in eval mode, as after training)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("alpha"):
                p.fill_(0.5)
        for m in model.modules():
            if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                m.weight.copy_(0.5 + torch.rand(m.num_features, generator=g))
                m.bias.copy_(0.1 * torch.randn(m.num_features, generator=g))
                m.reset_running_stats()
                m.momentum = None  # cumulative average over the calibration batches
        model.train()
        for _ in range(2):
            model(torch.randn(8, persons, 32, joints, 3, generator=g))
        for m in model.modules():
            if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                m.momentum = 0.1
    return model
