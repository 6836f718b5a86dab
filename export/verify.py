"""onnxruntime against PyTorch, right after export, at several (batch, frames) shapes.

The reference is the exported module itself run in float64, so the error measured is the ONNX
graph's own (float32 or float16 rounding in onnxruntime), not PyTorch's float32 rounding too.

The bound is `tolerance * max(1, scale)`, scale being the largest |value| of that output in the
reference: an absolute `tolerance` for outputs of magnitude up to 1, relative beyond. A purely
absolute 1e-4 cannot hold in float32 for large outputs (an untrained CTR-GCN gives logits in
the thousands, where one float32 step is already ~5e-4), while trained models' logits stay
near 1-30, where the bound is 1e-4 to 3e-3.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from cocodiff.errors import CocodiffError
from export.graph import INPUT, ExportGraph

FP32_TOLERANCE = 1e-4
FP16_TOLERANCE = 2e-2  # float16 has an 11-bit significand: ~1e-3 relative per rounding, ten units deep


@dataclass
class ShapeCheck:
    """One comparison: the worst error of each output at one (batch, frames) and input kind."""

    batch: int
    frames: int
    source: str  # "random" or "real"
    errors: dict[str, float]  # output name -> max abs error
    bounds: dict[str, float]  # output name -> what the error may reach

    @property
    def max_abs_error(self) -> float:
        return max(self.errors.values())

    @property
    def passed(self) -> bool:
        return all(self.errors[name] <= self.bounds[name] for name in self.errors)

    def line(self) -> str:
        parts = ", ".join(f"{name} {self.errors[name]:.2e} (bound {self.bounds[name]:.1e})" for name in self.errors)
        verdict = "ok" if self.passed else "TOO LARGE"
        return f"B={self.batch:<2d} T={self.frames:<4d} {self.source:6s} max abs error: {parts}  {verdict}"


def verification_shapes(window: int, min_frames: int = 1) -> list[tuple[int, int]]:
    """(B, T) pairs: B = 1 and B > 1; T = the window, half and twice it, and the smallest T."""
    shapes = [(1, window), (2, max(window // 2, min_frames)), (3, 2 * window), (2, max(min_frames, 1))]
    return list(dict.fromkeys(shapes))  # drop repeats, keep the order


def session(model: bytes, threads: int | None = None):
    """A CPU onnxruntime session for serialized `model`, quiet and with torch's thread count."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # warnings about folding are noise here
    options.intra_op_num_threads = threads or torch.get_num_threads()
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def verify(model: bytes, graph: ExportGraph, shapes: Sequence[tuple[int, int]], tolerance: float, *,
           persons: int, real_clips: np.ndarray | None = None, seed: int = 0,
           log: Callable[[str], None] | None = None) -> list[ShapeCheck]:
    """Compare at every shape, with random inputs and (when given) real clips; `log` gets a
    line per comparison. Raises CocodiffError naming the worst comparison over the bound."""
    reference = copy.deepcopy(graph).double().eval()
    runner = session(model)
    names = [output.name for output in runner.get_outputs()]
    generator = torch.Generator().manual_seed(seed)
    encoder = graph.encoder
    checks = []
    for batch, frames in shapes:
        inputs = {"random": torch.randn(batch, persons, frames, encoder.num_joints, encoder.in_channels,
                                        generator=generator).numpy()}
        if real_clips is not None and len(real_clips):
            inputs["real"] = fit_clips(real_clips, batch, frames)
        for source, x in inputs.items():
            check = compare(runner, reference, names, x, tolerance, source)
            checks.append(check)
            if log is not None:
                log(check.line())
    failures = [(check.errors[name] / check.bounds[name], check, name) for check in checks
                for name in check.errors if not check.errors[name] <= check.bounds[name]]
    if failures:
        _, worst, name = max(failures, key=lambda failure: failure[0])
        raise CocodiffError(f"onnxruntime disagrees with PyTorch at B={worst.batch} T={worst.frames} ({worst.source} "
                            f"input): {name} max abs error {worst.errors[name]:.3e} exceeds the bound "
                            f"{worst.bounds[name]:.1e} (tolerance {tolerance:g} x max(1, |{name}|))")
    return checks


def compare(runner, reference: torch.nn.Module, names: list[str], x: np.ndarray, tolerance: float,
            source: str) -> ShapeCheck:
    outputs = runner.run(None, {INPUT: x})
    with torch.no_grad():
        expected = reference(torch.from_numpy(x).double())
    expected = expected if isinstance(expected, tuple) else (expected,)
    errors, bounds = {}, {}
    for name, got, want in zip(names, outputs, expected):
        want = want.numpy()
        if got.shape != want.shape:
            raise CocodiffError(f"onnxruntime gives {name} of shape {got.shape} for input {x.shape}, "
                                f"PyTorch {want.shape}: the dynamic dimensions are not dynamic")
        difference = np.abs(got.astype(np.float64) - want)
        errors[name] = float(np.nan_to_num(difference, nan=np.inf).max())
        bounds[name] = tolerance * max(1.0, float(np.abs(want).max()))
    return ShapeCheck(x.shape[0], x.shape[2], source, errors, bounds)


def fit_clips(clips: np.ndarray, batch: int, frames: int) -> np.ndarray:
    """(batch, M, frames, V, C) from real clips (K, M, T, V, C): clips taken in turn, frames cut
    or repeated cyclically, so every value still comes from a real skeleton."""
    clips = np.asarray(clips, dtype=np.float32)
    picked = clips[np.arange(batch) % len(clips)]
    return np.ascontiguousarray(picked[:, :, np.arange(frames) % clips.shape[2]])
