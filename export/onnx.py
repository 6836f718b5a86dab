"""Export a checkpoint's encoder + classifier to ONNX, checked against PyTorch on the spot.

    python -m export.onnx runs/embedded/best.pt                  # -> runs/embedded/best.onnx
    python -m export.onnx best.pt --out model.onnx --fp16 --features

The graph takes `skeleton` float32 (B, M, T, V, C) with B and T dynamic and gives `logits`
(B, K), and with --features also `features` (B, C'), the classifier's pooled input. Only the
Recognizer is exported: a CoCoDiff checkpoint's auxiliary is never read. The file's metadata
holds what a runtime needs (class names, layout, window, normalisation...) and where the graph
came from (checkpoint SHA-256, cocodiff version); `export.metadata.read_metadata` reads it.

Right after export, onnxruntime (CPU) runs the graph at several (B, T) shapes on random input
and on real clips (by default the checkpoint's own validation data, when it is at hand), and
compares with PyTorch in float64. Over the bound (1e-4 x max(1, |output|) in float32, 2e-2 x in
float16; see export.verify), the export fails with exit code 2: the file at --out is left as it
was and the rejected graph is kept beside it as NAME.rejected.onnx for inspection.

--fp16 computes in float16 inside the graph (weights included) with float32 input and outputs
(see export.graph.to_float16): TensorRT 11 takes half precision only from such a file.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from cocodiff.atomic import atomic_write_bytes
from cocodiff.cli import run_cli
from cocodiff.errors import CocodiffError
from export.graph import INPUT_LAYOUT, MIN_OPSET, ExportGraph, check_opset, describe_value, example_input
from export.graph import export_graph, op_types, to_float16, weight_elements
from export.metadata import attach, export_metadata, onnx_metadata
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
    note: str = ""  # set when the legacy exporter stood in for the dynamo one, with the reason


def default_out(checkpoint: Path) -> Path:
    return checkpoint.with_suffix(".onnx")


def rejected_path(out: Path) -> Path:
    return out.with_name(f"{out.stem}.rejected.onnx")


def export_onnx(checkpoint: str | Path, out: str | Path | None = None, *, opset: int = DEFAULT_OPSET,
                fp16: bool = False, with_features: bool = False, verify: bool = True,
                tolerance: float | None = None, real_clips: np.ndarray | None = None,
                log: Callable[[str], None] | None = None) -> OnnxExport:
    """Export, verify and write atomically; `log` receives one line per verified shape."""
    from cocodiff.evaluate import load_model

    check_opset(opset)
    checkpoint = Path(checkpoint)
    out = Path(out) if out is not None else default_out(checkpoint)
    content, model = load_model(checkpoint)  # strict load of the Recognizer only; one-line errors
    if out.resolve() == checkpoint.resolve():
        raise CocodiffError(f"{out}: would overwrite the checkpoint; choose another --out")
    meta = content["meta"]
    persons, window = int(meta["num_persons"]), int(meta["window"])
    graph = ExportGraph(model, with_features).eval()
    clips = _checked_clips(real_clips, persons, graph)
    exported = export_graph(graph, example_input(graph, persons, window), opset)
    proto = to_float16(exported.model) if fp16 else exported.model
    metadata = {**onnx_metadata(content, checkpoint),
                **export_metadata(exporter=exported.exporter, opset=opset, precision="fp16" if fp16 else "fp32",
                                  outputs=graph.output_names, input_layout=INPUT_LAYOUT,
                                  min_frames=exported.min_frames)}
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
        parameters=weight_elements(proto, {name for name, _ in graph.named_parameters()}),
        max_abs_error=max((c.max_abs_error for c in checks), default=float("nan")), checked_shapes=shapes,
        metadata=metadata, torch_parameters=sum(p.numel() for p in graph.parameters()),
        exporter=exported.exporter, min_frames=exported.min_frames, checks=checks, note=exported.note)


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


# ---- real clips for the command line ------------------------------------------------------------

def real_clips(checkpoint: Path, data: str | None, split: str | None, count: int) -> tuple[np.ndarray | None, str]:
    """Up to `count` clips of the checkpoint's validation data (or --data / --split), through the
    checkpoint's own evaluation preprocessing; (None, why) when the data is not at hand."""
    from cocodiff.checkpoint import load_checkpoint
    from cocodiff.data.pipelines import eval_pipeline
    from cocodiff.evaluate import EMBEDDED, data_and_split, load_eval_split

    if count <= 0:
        return None, "real clips: none asked for (--clips 0)"
    content = load_checkpoint(checkpoint)
    try:
        source, split_name = data_and_split(content, checkpoint, data, split)
    except CocodiffError:
        return None, "real clips: skipped, the checkpoint names no data (pass --data FILE --split NAME)"
    if data is None and source != EMBEDDED and not Path(source).exists():
        return None, f"real clips: skipped, its data {source} is not here (pass --data FILE)"
    clips = load_eval_split(source, split_name, content, count, data is None)
    pipeline = eval_pipeline(content["meta"])
    return np.stack([pipeline(sample) for sample in clips.samples]), \
        f"real clips: {len(clips.samples)} from {clips.source}, split {split_name}"


# ---- the command ----------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m export.onnx", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path, help="a checkpoint (best.pt or last.pt of a run)")
    parser.add_argument("--out", type=Path, help="ONNX file (default: beside the checkpoint, CHECKPOINT.onnx)")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET, help=f"ONNX opset, >= {MIN_OPSET} (default 18)")
    parser.add_argument("--fp16", action="store_true", help="compute in float16 (input and outputs stay float32)")
    parser.add_argument("--features", action="store_true", help="also output the pooled features (B, C')")
    parser.add_argument("--tolerance", type=float, help="verification bound factor (default 1e-4; 2e-2 with --fp16)")
    parser.add_argument("--data", help="annotation file or 'embedded' for the real clips (default: the checkpoint's)")
    parser.add_argument("--split", help="split of the real clips (default: the checkpoint's validation split)")
    parser.add_argument("--clips", type=int, default=4, help="real clips to verify with (default 4; 0: random only)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    import onnx

    args = build_parser().parse_args(argv)
    check_opset(args.opset)  # before anything slow
    if args.tolerance is not None and not args.tolerance > 0:
        raise CocodiffError(f"--tolerance {args.tolerance}: must be positive")
    clips, note = real_clips(args.checkpoint, args.data, args.split, args.clips)
    print(f"exporting {args.checkpoint} (encoder + classifier only); {note}")
    result = export_onnx(args.checkpoint, args.out, opset=args.opset, fp16=args.fp16, with_features=args.features,
                         tolerance=args.tolerance, real_clips=clips, log=lambda line: print(f"  {line}"))
    model = onnx.load(str(result.path))
    if result.note:
        print(f"note: {result.note}")
    print(f"graph: {result.exporter} exporter, opset {result.opset}, {'fp16' if result.fp16 else 'fp32'} "
          f"(input and outputs float32), frames >= {result.min_frames}")
    for kind, values in (("input ", model.graph.input), ("output", model.graph.output)):
        for value in values:
            print(f"  {kind} {describe_value(value)}")
    same = "=" if result.parameters == result.torch_parameters else "!= (MISMATCH)"
    print(f"parameters: {result.parameters:,} in the graph's weights {same} {result.torch_parameters:,} in the "
          "PyTorch recogniser (BN running statistics and shape constants not counted)")
    ops = op_types(model)
    print(f"ops ({len(ops)} types): " + ", ".join(f"{name} x{count}" for name, count in sorted(ops.items())))
    print(f"max abs error {result.max_abs_error:.2e} over {len(result.checks)} checks at (B, T) "
          + " ".join(f"({b}, {t})" for b, t in result.checked_shapes))
    print(f"wrote {result.path} ({result.path.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
