"""Fixtures shared by the test suite.

Tests that read the real datasets look for them in ../shared/data beside the repository (or in
$COCODIFF_SHARED_DATA) and skip, saying so, where that folder is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before any test imports gradio (demo.app sets it too)

import pytest


def _shared_data() -> Path:
    from tiny_runs import shared_data_folder

    return shared_data_folder()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    folder = _shared_data()
    if not folder.is_dir():
        pytest.skip(f"real data not found at {folder} (set COCODIFF_SHARED_DATA to its path)")
    return folder


@pytest.fixture(scope="session")
def ntu_dir(shared_data: Path) -> Path:
    return _require(shared_data / "ntu")


@pytest.fixture(scope="session")
def ucla_dir(shared_data: Path) -> Path:
    return _require(shared_data / "nw_ucla" / "all_sqe")


@pytest.fixture(scope="session")
def kinetics_dir(shared_data: Path) -> Path:
    return _require(shared_data / "kinetics")


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"real data not found at {path}")
    return path


@pytest.fixture(autouse=True)
def keep_thread_count():
    """Training in-process sets torch's thread count (threads=1 in tiny runs); restore it after."""
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    """2 train clips and 1 val clip per class of the embedded dataset, as a file."""
    from cocodiff.data.annotations import save_annotations
    from cocodiff.data.embedded import EmbeddedConfig, embedded_annotations

    path = tmp_path_factory.mktemp("data") / "tiny.pkl"
    save_annotations(embedded_annotations(EmbeddedConfig(train_per_class=2, test_per_class=1)), path)
    return path


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> tuple[Path, Path]:
    """A tiny CTR-GCN checkpoint (the embedded classes, ntu25, one person, window 16) whose
    outputs vary from clip to clip (tiny_runs.calibrated_checkpoint), and its ONNX export, made
    once per session: the serving tests share the ~20 s trace. Verification against PyTorch is
    test_export_onnx's business; the serving tests compare the two backends themselves."""
    pytest.importorskip("onnxruntime")
    from export.exporter import export_onnx
    from tiny_runs import calibrated_checkpoint, calibration_clips

    folder = tmp_path_factory.mktemp("tiny_model")
    checkpoint = calibrated_checkpoint(folder / "tiny.pt", calibration_clips())
    export_onnx(checkpoint, folder / "tiny.onnx", verify=False)
    return checkpoint, folder / "tiny.onnx"


@pytest.fixture(scope="session")
def pose_model_file(shared_data: Path) -> Path:
    """MediaPipe's full pose model from ../shared/data (the demo's tests need mediapipe)."""
    pytest.importorskip("mediapipe", reason="the demo extra is not installed (pip install -e '.[demo]')")
    return _require(shared_data / "models" / "pose_landmarker_full.task")


@pytest.fixture(scope="session")
def videos_dir(shared_data: Path) -> Path:
    return _require(shared_data / "videos")
