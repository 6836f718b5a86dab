"""Reference inputs and outputs beside an ONNX file, in polygraphy's own JSON formats.

The ONNX file is checked here on CPU with onnxruntime; a TensorRT engine can only be built on a
GPU host. Saving onnxruntime's answers (and the exact inputs that produced them) lets that host
compare TensorRT against them with one command and no cocodiff code:

    polygraphy run model.onnx --trt <profile> --load-inputs model.ref_inputs.json \
        --load-outputs model.ref_outputs.json --atol 1e-3 --rtol 1e-3

The files are made by polygraphy's onnxruntime runner itself, so their format is whatever
polygraphy reads back, whichever version wrote them.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from cocodiff.errors import CocodiffError
from export.graph import INPUT

BATCH_AXIS, FRAME_AXIS = 0, 2  # (B, M, T, V, C): one layout everywhere
# Starting tolerances for TensorRT against onnxruntime: fp32 engines are built without TF32; half
# precision rounds every layer, so its logits are compared more loosely.
TOLERANCE = {"fp32": 1e-3, "fp16": 2e-2}


@dataclass(frozen=True)
class InputSpec:
    """The ONNX graph's skeleton input: its name, element type and dims (None where dynamic)."""

    name: str
    dtype: np.dtype
    dims: tuple[int | None, ...]

    @property
    def half(self) -> bool:
        return self.dtype == np.float16

    def shape(self, batch: int, frames: int) -> tuple[int, ...]:
        """The full (B, M, T, V, C) shape for one (B, T) pair; M, V and C come from the graph."""
        if len(self.dims) != 5:
            raise CocodiffError(f"ONNX input {self.name!r} has {len(self.dims)} dims, expected (B, M, T, V, C)")
        shape = list(self.dims)
        for axis, value, what in ((BATCH_AXIS, batch, "batch"), (FRAME_AXIS, frames, "frame count")):
            if shape[axis] is not None and shape[axis] != value:
                raise CocodiffError(f"the ONNX file has a fixed {what} of {shape[axis]}, asked for {value}")
            shape[axis] = value
        if any(d is None for d in shape):
            raise CocodiffError(f"ONNX input {self.name!r} has dynamic dims besides B and T: {self.dims}")
        return tuple(int(d) for d in shape)


def input_spec(onnx_path: str | os.PathLike, name: str = INPUT) -> InputSpec:
    """Read the input's declared type and shape without loading the weights."""
    import onnx
    from onnx import helper

    model = onnx.load(str(onnx_path), load_external_data=False)
    for value in model.graph.input:
        if value.name == name:
            tensor = value.type.tensor_type
            dims = tuple(d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim)
            return InputSpec(name, np.dtype(helper.tensor_dtype_to_np_dtype(tensor.elem_type)), dims)
    names = [value.name for value in model.graph.input]
    raise CocodiffError(f"{onnx_path}: no input named {name!r} (inputs: {names})")


def reference_paths(onnx_path: str | os.PathLike) -> tuple[Path, Path]:
    """Where the reference files of an ONNX file live: beside it, named after it."""
    path = Path(onnx_path)
    stem = path.with_suffix("")
    return Path(f"{stem}.ref_inputs.json"), Path(f"{stem}.ref_outputs.json")


def reference_feeds(spec: InputSpec, shapes: Sequence[tuple[int, int]], seed: int = 0,
                    clips: Sequence[np.ndarray] = ()) -> list[dict[str, np.ndarray]]:
    """One feed per (B, T) shape, seeded random skeletons, then one per real clip (M, T, V, C)."""
    rng = np.random.default_rng(seed)
    feeds = []
    for batch, frames in shapes:
        data = 0.5 * rng.standard_normal(spec.shape(batch, frames), dtype=np.float32)
        feeds.append({spec.name: data.astype(spec.dtype)})
    for clip in clips:
        clip = np.asarray(clip)
        clip = clip[None] if clip.ndim == 4 else clip
        spec.shape(clip.shape[BATCH_AXIS], clip.shape[FRAME_AXIS])  # refuses clips the graph cannot take
        feeds.append({spec.name: np.ascontiguousarray(clip, dtype=spec.dtype)})
    return feeds


def save_reference(onnx_path: str | os.PathLike, *, shapes: Sequence[tuple[int, int]], seed: int = 0,
                   clips: Sequence[np.ndarray] = ()) -> tuple[Path, Path]:
    """Run the ONNX file with polygraphy's onnxruntime runner and save its inputs and outputs.

    Returns (inputs_path, outputs_path). Both are written under temporary names and renamed into
    place, so a crash never leaves one file that does not match the other's generation.
    """
    try:
        from polygraphy.backend.onnxrt import OnnxrtRunner, SessionFromOnnx
        from polygraphy.comparator import Comparator
    except ImportError as error:
        raise CocodiffError(f"polygraphy is needed for reference outputs (pip install polygraphy): {error}") from error
    if not shapes and not clips:
        raise CocodiffError("no shapes to save reference outputs for")
    feeds = reference_feeds(input_spec(onnx_path), shapes, seed, clips)
    inputs_path, outputs_path = reference_paths(onnx_path)
    runner = OnnxrtRunner(SessionFromOnnx(str(onnx_path)), name="onnxrt-reference")
    with _quiet_polygraphy(), _temporary(inputs_path) as inputs_tmp, _temporary(outputs_path) as outputs_tmp:
        Comparator.run([runner], data_loader=feeds, save_inputs_path=str(inputs_tmp),
                       save_outputs_path=str(outputs_tmp))
        os.replace(inputs_tmp, inputs_path)
        os.replace(outputs_tmp, outputs_path)
    return inputs_path, outputs_path


def load_reference(inputs_path: str | os.PathLike, outputs_path: str | os.PathLike):
    """Read the files back with polygraphy's own loaders: (list of feed dicts, RunResults)."""
    from polygraphy.comparator import RunResults
    from polygraphy.json import load_json

    return load_json(str(inputs_path), description="reference inputs"), RunResults.load(str(outputs_path))


def polygraphy_shape(shape: Sequence[int]) -> str:
    return "[" + ",".join(str(d) for d in shape) + "]"


@contextlib.contextmanager
def _temporary(target: Path) -> Iterator[Path]:
    """A scratch path beside `target` (same file system, so the final rename is atomic)."""
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp.json")
    try:
        yield temporary
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()


@contextlib.contextmanager
def _quiet_polygraphy() -> Iterator[None]:
    """Polygraphy logs every run at INFO on stdout; keep only its warnings and errors."""
    from polygraphy.logger import G_LOGGER

    with G_LOGGER.verbosity(G_LOGGER.WARNING):
        yield
