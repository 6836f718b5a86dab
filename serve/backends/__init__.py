"""Backends: one `Backend` interface over the three kinds of model file, chosen by the file.

    backend = open_backend("runs/embedded/best.pt")      # PyTorch
    backend = open_backend("runs/embedded/best.onnx")    # ONNX Runtime (CPU, or CUDA with onnxruntime-gpu)
    backend = open_backend("model.engine")               # TensorRT, with its sidecar model.engine.json
    logits = backend.predict(batch)                       # float32 (B, M, T, V, C) -> (B, K)

The same clip gives the same logits from the checkpoint and from its ONNX export (tested).
"""

from __future__ import annotations

import os
from pathlib import Path

from cocodiff.errors import CocodiffError
from serve.backends.base import Backend, ModelInputError, ModelRunError, check_batch

TORCH_SUFFIXES = (".pt", ".pth", ".ckpt")
ONNX_SUFFIXES = (".onnx",)
ENGINE_SUFFIXES = (".engine", ".plan", ".trt")
_ZIP_MAGIC = b"PK\x03\x04"  # torch.save writes a zip archive

__all__ = ["Backend", "ModelInputError", "ModelRunError", "check_batch", "model_kind", "open_backend"]


def model_kind(path: str | os.PathLike) -> str:
    """"pytorch", "onnxruntime" or "tensorrt", from the file's suffix (or, without a known one,
    its first bytes); one-line error for anything else."""
    path = Path(path)
    if not path.exists():
        raise CocodiffError(f"{path}: no such model file")
    if path.is_dir():
        raise CocodiffError(f"{path}: is a directory, expected a model file (for example {path / 'best.pt'})")
    suffix = path.suffix.lower()
    if suffix in TORCH_SUFFIXES:
        return "pytorch"
    if suffix in ONNX_SUFFIXES:
        return "onnxruntime"
    if suffix in ENGINE_SUFFIXES:
        return "tensorrt"
    with open(path, "rb") as handle:
        if handle.read(4) == _ZIP_MAGIC:
            return "pytorch"
    raise CocodiffError(f"{path}: not a model file cocodiff can run (expected a checkpoint {'/'.join(TORCH_SUFFIXES)}, "
                        f"an ONNX export .onnx or a TensorRT engine {'/'.join(ENGINE_SUFFIXES)})")


def open_backend(path: str | os.PathLike, *, device: str = "auto", threads: int = 0) -> Backend:
    """The backend for the model file at `path`. `device`: auto, cpu, cuda or cuda:N (a TensorRT
    engine runs on CUDA only); `threads`: CPU threads (0: PyTorch takes the idle cores, ONNX
    Runtime its default). Only the PyTorch backend imports torch: serving an ONNX file needs
    onnxruntime alone."""
    kind = model_kind(path)
    if kind == "pytorch":
        from serve.backends.pytorch import TorchBackend

        return TorchBackend(path, device=device, threads=threads)
    if kind == "onnxruntime":
        from serve.backends.onnx_runtime import OnnxBackend

        return OnnxBackend(path, device=device, threads=threads)
    from serve.backends.tensorrt_engine import TensorRTBackend

    return TensorRTBackend(path, device="cuda" if device == "auto" else device)
