"""Tiny training runs for tests: a config of 3 steps per epoch (batch 8 of 24 clips), width 8, the
backbone alone unless a test turns the CoCoDiff auxiliary on (`method.enabled=true`)."""

from __future__ import annotations

import os
from pathlib import Path

from cocodiff.cli import run_cli
from cocodiff.train import main


def tiny(data: Path, out: Path, name: str, *extra: str, backbone_alone: bool = True) -> list[str]:
    """`backbone_alone=False` leaves the method at its default (on)."""
    return [f"data.dataset={data}", f"out_dir={out}", f"name={name}", "model.base_channels=8", "data.window=16",
            "optim.batch_size=8", "optim.epochs=2", "optim.warmup_epochs=1", "optim.milestones=[2]", "threads=1",
            *(["method.enabled=false"] if backbone_alone else []), *extra]


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


def contract_of(data, layout: str = "ntu25", classes=("a", "b")):
    """The contract a run on data config `data` would write (see cocodiff.training.deployment):
    its window, persons, modality and preprocessing; 2D for the COCO and OpenPose layouts."""
    coordinates = 2 if layout in ("coco17", "openpose18") else 3
    return contract_for(classes, layout, in_channels=coordinates + (1 if data.use_score else 0), window=data.window,
                        num_persons=data.num_persons, modality=data.modality, pre_normalize=data.pre_normalize,
                        eval_crop_ratio=data.eval_crop_ratio, score_channel=data.use_score)


def untrained_checkpoint(path: Path, seed: int = 0) -> Path:
    """An untrained tiny CTR-GCN (width 8, window 16) on the embedded classes, saved as a checkpoint."""
    import torch

    from cocodiff.checkpoint import save_checkpoint
    from cocodiff.config import TrainConfig, config_to_dict
    from cocodiff.data.embedded import CLASSES
    from cocodiff.models import build_recognizer

    torch.manual_seed(seed)
    options = {"base_channels": 8, "num_persons": 1, "dropout": 0.0}
    model = build_recognizer("ctrgcn", "ntu25", 3, len(CLASSES), **options)
    contract = contract_for(CLASSES, backbone_options=options, dataset="embedded")
    save_checkpoint(path, model=model.state_dict(), contract=contract, config=config_to_dict(TrainConfig()))
    return path


def calibrated_checkpoint(path: Path, clips, *, seed: int = 2, classes=None, num_persons: int = 1,
                          person_order: str = "recorded", window: int = 16) -> Path:
    """A tiny CTR-GCN (width 8) whose outputs vary from clip to clip as a trained model's do.

    An untrained network with its initial batch-norm statistics gives one class with probability 1
    for every input, which would make any "same label" test pass. Here the batch-norm statistics
    are measured on `clips` (model input, (N, M, T, V, 3)), and the classifier is centred and
    scaled so that its logits over those clips have mean 0 and spread 2 per class."""
    import torch

    from cocodiff.checkpoint import save_checkpoint
    from cocodiff.data.embedded import CLASSES
    from cocodiff.models import build_recognizer

    classes = list(classes or CLASSES)
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    options = {"base_channels": 8, "num_persons": num_persons, "dropout": 0.0}
    model = build_recognizer("ctrgcn", "ntu25", 3, len(classes), **options)
    x = torch.as_tensor(clips, dtype=torch.float32)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith("alpha"):
                parameter.fill_(0.5)  # at its initial 0 the topology refinement would not take part
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.weight.copy_(0.5 + torch.rand(module.num_features, generator=generator))
                module.bias.copy_(0.1 * torch.randn(module.num_features, generator=generator))
                module.reset_running_stats()
                module.momentum = None  # a plain average over the calibration batch
        model.train()
        model(x)
        model.eval()
        fc = model.classifier.fc
        raw = model.classifier.pool(model.encoder.forward_features(x)) @ fc.weight.T
        scale = 2.0 / (raw - raw.mean(0)).std()
        fc.weight.mul_(scale)
        fc.bias.copy_(-raw.mean(0) * scale)
    contract = contract_for(classes, num_persons=num_persons, window=window, person_order=person_order,
                            backbone_options=options, dataset="embedded")
    save_checkpoint(path, model=model.state_dict(), contract=contract, config={})
    return path


def shared_data_folder() -> Path:
    """../shared/data beside the repository, or $COCODIFF_SHARED_DATA."""
    return Path(os.environ.get("COCODIFF_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def calibration_clips(persons: int = 1, window: int = 16):
    """Model input (N, persons, window, 25, 3) to measure a test model's statistics on: embedded
    clips, and the real NW-UCLA, UTD-MHAD and NTU recordings where ../shared/data is at hand
    (real Kinect data spreads wider than the procedural clips)."""
    import numpy as np

    from cocodiff.data.embedded import EmbeddedConfig, embedded_annotations
    from cocodiff.data.frames import KINECT
    from cocodiff.data.pipelines import InferencePipeline, SkeletonSource
    from tiny_runs import contract_for

    contract = contract_for(["a"], num_persons=persons, window=window)
    ntu25, kinect20 = InferencePipeline(contract), InferencePipeline(contract, SkeletonSource("kinect20", KINECT))
    content = embedded_annotations(EmbeddedConfig(train_per_class=2, test_per_class=1))
    clips = [ntu25(sample) for sample in content["annotations"][:24]]
    folder = shared_data_folder()
    if folder.is_dir():
        from cocodiff.data.readers.ntu import read_ntu_skeleton
        from cocodiff.data.readers.ucla import read_ucla_json
        from cocodiff.data.readers.utd import read_utd_mat

        clips += [kinect20(read_ucla_json(path)) for path in sorted((folder / "nw_ucla" / "all_sqe").glob("*.json"))[::100]]
        clips += [kinect20(read_utd_mat(path)) for path in sorted((folder / "utd_mhad").glob("*.mat"))[::60]]
        clips += [ntu25(read_ntu_skeleton(path)) for path in sorted((folder / "ntu" / "skeleton").glob("*.skeleton"))]
    return np.stack(clips)


def layout_checkpoint(path: Path, layout: str, *, backbone: str = "stgcn", classes=("a", "b", "c")) -> Path:
    """An untrained tiny model of another layout (2D + confidence for coco17 and openpose18, 3D
    otherwise), for tests of what feeds it, not of what it says."""
    from cocodiff.checkpoint import save_checkpoint
    from cocodiff.models import build_recognizer

    flat = layout in ("coco17", "openpose18")
    options = {"base_channels": 8}
    model = build_recognizer(backbone, layout, 3, len(classes), **options)
    contract = contract_for(list(classes), layout, in_channels=3, score_channel=flat, backbone=backbone,
                            backbone_options=options)
    save_checkpoint(path, model=model.state_dict(), contract=contract, config={})
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (for servers the tests start)."""
    from serve.network import free_ports

    return free_ports()[0]


FAKE_TEXT_DIM = 16  # width of fake_text's embeddings


def fake_text(counts=(5, 3, 1, 2), dim: int = FAKE_TEXT_DIM, seed: int = 0):
    """Random unit vectors shaped like `embed_classes`' output; rows past a class's count are 0."""
    import numpy as np

    from cocodiff.method.text.corpus import FINE_PARTS
    from cocodiff.method.text.embeddings import TextEmbeddings

    rng = np.random.default_rng(seed)
    k, slots = len(counts), max(counts)

    def unit(*shape):
        v = rng.standard_normal((*shape, dim)).astype(np.float32)
        return v / np.linalg.norm(v, axis=-1, keepdims=True)

    coarse = np.zeros((k, slots, dim), dtype=np.float32)
    for i, c in enumerate(counts):
        coarse[i, :c] = unit(c)
    return TextEmbeddings([f"class{i}" for i in range(k)], coarse, np.asarray(counts, dtype=np.int64),
                          unit(k, len(FINE_PARTS)), "fake")


def one_line_error(code: int, err: str, expected: str) -> None:
    """A command refused bad input as it must: exit code 2 and one `error:` line naming the problem."""
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and expected in lines[0], lines[0]


def strip_timing(lines: list[dict]) -> list[dict]:
    """metrics.jsonl lines without their wall-clock fields (which differ between identical runs)."""
    from cocodiff.training.metrics import TIMING_KEYS

    return [{k: v for k, v in line.items() if k not in TIMING_KEYS} for line in lines]
