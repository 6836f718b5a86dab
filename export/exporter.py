"""The ONNX export itself: encoder + classifier of a checkpoint, checked against PyTorch, written
atomically (the library behind `python -m export.onnx` and `python -m export.trt`; see export/onnx.py
for what the file holds and how it is verified).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from cocodiff.atomic import atomic_write_bytes
from cocodiff.errors import CocodiffError
from cocodiff.models.build import DEPLOY_FORMS
from export.graph import (
    INPUT_LAYOUT,
    ExportGraph,
    check_opset,
    example_input,
    export_graph,
    to_float16,
    weight_elements,
)
from export.metadata import attach, export_metadata, checkpoint_metadata
from export.verify import FP16_TOLERANCE, FP32_TOLERANCE, ShapeCheck, verification_shapes
from export.verify import verify as verify_graph

DEFAULT_OPSET = 18


@dataclass
class OnnxExport:
    """What `export_onnx` wrote and what it checked."""

    path: Path
    opset: int
    fp16: bool
    with_features: bool
    parameters: int  # elements of the graph's initializers that are the recogniser's parameters
    max_abs_error: float  # worst onnxruntime-vs-PyTorch error over all checks (nan if not verified)
    checked_shapes: list[tuple[int, int]]  # (B, T)
    metadata: dict[str, str]
    torch_parameters: int = 0  # sum(p.numel() for p in recogniser.parameters())
    exporter: str = ""
    min_frames: int = 1
    checks: list[ShapeCheck] = field(default_factory=list)


def default_out(checkpoint: Path) -> Path:
    return checkpoint.with_suffix(".onnx")


def deploy_path(reference: Path) -> Path:
    """NAME.deploy.onnx beside NAME.onnx."""
    return reference.with_name(f"{reference.stem}.deploy.onnx")


def graph_difference(first: Path, second: Path, clips: np.ndarray | None = None, seed: int = 0) -> float:
    """The largest absolute difference between two ONNX files' outputs in onnxruntime, on the
    real clips (when given) and on random clips of the same shape."""
    from export.metadata import read_metadata
    from export.verify import session

    contract = read_metadata(first).contract
    rng = np.random.default_rng(seed)
    inputs = [rng.standard_normal((2, contract.num_persons, contract.window, len(contract.joints),
                                   contract.in_channels)).astype(np.float32)]
    if clips is not None and len(clips):
        inputs.append(np.asarray(clips, dtype=np.float32))
    runners = [session(Path(path).read_bytes()) for path in (first, second)]
    return max(float(np.abs(a - b).max()) for x in inputs
               for a, b in zip(*(runner.run(None, {"skeleton": x}) for runner in runners)))


def rejected_path(out: Path) -> Path:
    return out.with_name(f"{out.stem}.rejected.onnx")


def export_onnx(checkpoint: str | Path, out: str | Path | None = None, *, opset: int = DEFAULT_OPSET,
                fp16: bool = False, with_features: bool = False, verify: bool = True,
                tolerance: float | None = None, real_clips: np.ndarray | None = None,
                log: Callable[[str], None] | None = None, deploy: bool = False) -> OnnxExport:
    """Export, verify and write atomically; `log` receives one line per verified shape.

    `deploy`: the deployment graph instead (`cocodiff.models.ctrgcn_deploy`: batch norms folded,
    a layout for ONNX runtimes), verified against the trained recogniser itself in float64, as
    the reference graph is; its weights are folded ones, so they are counted but not the
    recogniser's parameters. CTR-GCN only."""
    from cocodiff.checkpoint import load_recognizer

    check_opset(opset)
    checkpoint = Path(checkpoint)
    out = Path(out) if out is not None else default_out(checkpoint)
    content, model = load_recognizer(checkpoint)  # strict load of the Recognizer only; one-line errors
    if out.resolve() == checkpoint.resolve():
        raise CocodiffError(f"{out}: would overwrite the checkpoint; choose another --out")
    contract = content["contract"]
    persons, window = contract.num_persons, contract.window
    graph = ExportGraph(model, with_features).eval()  # the reference every graph is verified against
    clips = _checked_clips(real_clips, persons, graph)
    exported_module = ExportGraph(_deploy_form(model, contract, checkpoint), with_features).eval() if deploy else graph
    exported = export_graph(exported_module, example_input(graph, persons, window), opset)
    proto = to_float16(exported.model) if fp16 else exported.model
    metadata = {**checkpoint_metadata(contract, checkpoint),
                **export_metadata(exporter=exported.exporter, opset=opset, precision="fp16" if fp16 else "fp32",
                                  outputs=graph.output_names, input_layout=INPUT_LAYOUT,
                                  min_frames=exported.min_frames),
                "graph": "deploy" if deploy else "reference"}
    data = _finished(proto, metadata)
    shapes = verification_shapes(window, exported.min_frames) if verify else []
    checks: list[ShapeCheck] = []
    if verify:
        bound = tolerance if tolerance is not None else (FP16_TOLERANCE if fp16 else FP32_TOLERANCE)
        checks = _verified(data, graph, shapes, bound, persons, clips, out, log)
    atomic_write_bytes(out, data)
    rejected_path(out).unlink(missing_ok=True)  # a stale rejected graph would only confuse
    return OnnxExport(
        path=out, opset=opset, fp16=fp16, with_features=with_features,
        parameters=weight_elements(proto, {name for name, _ in exported_module.named_parameters()}),
        max_abs_error=max((c.max_abs_error for c in checks), default=float("nan")), checked_shapes=shapes,
        metadata=metadata, torch_parameters=sum(p.numel() for p in exported_module.parameters()),
        exporter=exported.exporter, min_frames=exported.min_frames, checks=checks)


def has_deploy_graph(contract) -> bool:
    """Whether `export_onnx(..., deploy=True)` can export this checkpoint: its backbone has a
    deploy form (`cocodiff.models.DEPLOY_FORMS`)."""
    return contract.backbone in DEPLOY_FORMS


def _deploy_form(model, contract, checkpoint: Path):
    if not has_deploy_graph(contract):
        raise CocodiffError(f"{checkpoint}: a deploy graph exists for {', '.join(DEPLOY_FORMS)} only, this is "
                            f"{contract.backbone}: export the reference graph (no --deploy)")
    return DEPLOY_FORMS[contract.backbone](model)


def _finished(proto, metadata: dict[str, str]) -> bytes:
    """Metadata attached, checked by onnx's checker (with shape inference), serialized."""
    import onnx

    attach(proto, metadata)
    try:
        onnx.checker.check_model(proto, full_check=True)
    except onnx.checker.ValidationError as error:
        raise CocodiffError(f"the exported graph is not valid ONNX: {str(error).splitlines()[0]}") from None
    return proto.SerializeToString()


def _verified(data: bytes, graph: ExportGraph, shapes: list[tuple[int, int]], bound: float, persons: int,
              clips: np.ndarray | None, out: Path, log: Callable[[str], None] | None) -> list[ShapeCheck]:
    """The checks; on failure the graph goes to NAME.rejected.onnx and `out` stays as it was."""
    if log is not None:
        log(f"verifying: onnxruntime (CPU) against PyTorch (float64), bound {bound:g} x max(1, |output|)")
    try:
        return verify_graph(data, graph, shapes, bound, persons=persons, real_clips=clips, log=log)
    except CocodiffError as error:
        rejected = rejected_path(out)
        atomic_write_bytes(rejected, data)
        kept = f"{out} left as it was" if out.exists() else f"nothing written to {out}"
        raise CocodiffError(f"{error}; {kept}, the rejected graph is {rejected}") from None


def _checked_clips(clips: np.ndarray | None, persons: int, graph: ExportGraph) -> np.ndarray | None:
    if clips is None or len(clips) == 0:
        return None
    clips = np.asarray(clips, dtype=np.float32)
    want = (persons, graph.encoder.num_joints, graph.encoder.in_channels)
    if clips.ndim != 5 or (clips.shape[1], clips.shape[3], clips.shape[4]) != want:
        raise CocodiffError(f"real clips of shape {clips.shape} do not fit the model: expected (K, {want[0]}, T, "
                            f"{want[1]}, {want[2]})")
    return clips


# ---- real clips of the checkpoint's own data ----------------------------------------------------
def real_clips(checkpoint: Path, data: str | None, split: str | None, count: int) -> tuple[np.ndarray | None, str]:
    """Up to `count` clips of the checkpoint's validation data (or --data / --split), through the
    checkpoint's own evaluation preprocessing; (None, why) when the data is not at hand."""
    from cocodiff.checkpoint import load_checkpoint
    from cocodiff.data.splits import EMBEDDED, checkpoint_data, load_split

    if count <= 0:
        return None, "real clips: none asked for (--clips 0)"
    content = load_checkpoint(checkpoint)
    try:
        source, split_name = checkpoint_data(content, checkpoint, data, split)
    except CocodiffError:
        return None, "real clips: skipped, the checkpoint names no data (pass --data FILE --split NAME)"
    if data is None and source != EMBEDDED and not Path(source).exists():
        return None, f"real clips: skipped, its data {source} is not here (pass --data FILE)"
    clips = load_split(source, split_name, content, count, data is None)
    pipeline = clips.pipeline(content["contract"])
    return np.stack([pipeline(sample) for sample in clips.samples]), \
        f"real clips: {len(clips.samples)} from {clips.source}, split {split_name}"
