"""Export a checkpoint's encoder + classifier to ONNX, checked against PyTorch on the spot.

    python -m export.onnx runs/embedded/best.pt                  # -> runs/embedded/best.onnx
    python -m export.onnx best.pt --out model.onnx --fp16 --features

The graph takes `skeleton` float32 (B, M, T, V, C) with B and T dynamic and gives `logits`
(B, K), and with --features also `features` (B, C'), the classifier's pooled input. Only the
Recognizer is exported: a CoCoDiff checkpoint's auxiliary is never read. The file's metadata
holds the checkpoint's deployment contract (class names, layout, coordinate frame, window,
normalisation, frame rate...) and where the graph came from (checkpoint SHA-256, cocodiff
version); `export.metadata.read_metadata` reads it.

Right after export, onnxruntime (CPU) runs the graph at several (B, T) shapes on random input
and on real clips (by default the checkpoint's own validation data, when it is at hand), and
compares with PyTorch in float64. Over the bound (1e-4 x max(1, |output|) in float32, 2e-2 x in
float16; see export.verify), the export fails with exit code 2: the file at --out is left as it
was and the rejected graph is kept beside it as NAME.rejected.onnx for inspection.

For CTR-GCN a second file, NAME.deploy.onnx, holds the deployment graph: the same network with
its batch norms folded into the convolutions and a layout that ONNX Runtime runs faster (see
cocodiff/models/ctrgcn_deploy.py). It is verified the same way against the same float64
reference, and compared with NAME.onnx on the same clips; NAME.onnx stays the graph whose
weights are the checkpoint's, one for one. Serve the deploy file; --no-deploy skips it.

--int8 also writes NAME.int8.onnx: the deploy graph quantized to int8 by ONNX Runtime's static
quantizer (export/quantize.py), calibrated on --calib-clips clips of the training split (or
--calib-split), and prints its top-1 agreement with the float32 graph on the verification clips.
A lower-precision option for processors with VNNI, not a verified export: measure its accuracy on
a test split before serving it.

--fp16 computes in float16 inside the graph (weights included) with float32 input and outputs
(see export.graph.to_float16): TensorRT 11 takes half precision only from such a file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from cocodiff.cli import run_cli
from cocodiff.errors import CocodiffError
from cocodiff.checkpoint import load_checkpoint
from cocodiff.models.build import DEPLOY_FORMS
from export.exporter import DEFAULT_OPSET, deploy_path, export_onnx, graph_difference, has_deploy_graph, real_clips
from export.quantize import agreement, int8_path, write_int8
from export.graph import MIN_OPSET, check_opset, describe_value, op_types


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
    parser.add_argument("--no-deploy", action="store_true", help="do not also write the CTR-GCN deploy graph")
    parser.add_argument("--int8", action="store_true", help="also write NAME.int8.onnx, the deploy graph in int8")
    parser.add_argument("--calib-split", help="split of the int8 calibration clips (default: the training split)")
    parser.add_argument("--calib-clips", type=int, default=64, help="int8 calibration clips (default 64)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    import onnx

    args = build_parser().parse_args(argv)
    check_opset(args.opset)  # before anything slow
    if args.int8 and (args.no_deploy or args.fp16):
        raise CocodiffError("--int8 quantizes the float32 deploy graph: drop --no-deploy and --fp16")
    if args.int8 and args.calib_clips <= 0:
        raise CocodiffError(f"--calib-clips {args.calib_clips}: int8 calibration needs at least one clip")
    if args.tolerance is not None and not args.tolerance > 0:
        raise CocodiffError(f"--tolerance {args.tolerance}: must be positive")
    content = load_checkpoint(args.checkpoint)
    deploy_too = not args.no_deploy and has_deploy_graph(content["contract"])
    if args.int8 and not deploy_too:
        raise CocodiffError(f"{args.checkpoint}: --int8 quantizes the deploy graph, which exists for "
                            f"{', '.join(DEPLOY_FORMS)} only")
    clips, note = real_clips(args.checkpoint, args.data, args.split, args.clips)
    print(f"exporting {args.checkpoint} (encoder + classifier only); {note}")
    result = export_onnx(args.checkpoint, args.out, opset=args.opset, fp16=args.fp16, with_features=args.features,
                         tolerance=args.tolerance, real_clips=clips, log=lambda line: print(f"  {line}"))
    model = onnx.load(str(result.path))
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
    if deploy_too:
        deploy = export_onnx(args.checkpoint, deploy_path(result.path), opset=args.opset, fp16=args.fp16,
                             with_features=args.features, tolerance=args.tolerance, real_clips=clips, deploy=True)
        difference = graph_difference(result.path, deploy.path, clips)
        print(f"deploy graph: batch norms folded, {len(onnx.load(str(deploy.path)).graph.node)} nodes against "
              f"{len(model.graph.node)}; max abs error against PyTorch float64 {deploy.max_abs_error:.2e}, "
              f"against {result.path.name} {difference:.2e}")
        print(f"wrote {deploy.path} ({deploy.path.stat().st_size / 1e6:.2f} MB): the file to serve")
        if args.int8:
            write_int8_beside(args, content, result.path, deploy.path, clips)
    return 0


def write_int8_beside(args, content: dict, reference: Path, deploy: Path, check_clips) -> None:
    train_split = ((content.get("config") or {}).get("data") or {}).get("train_split")
    calibration, note = real_clips(args.checkpoint, args.data, args.calib_split or train_split, args.calib_clips)
    print(f"int8 calibration: {note}")
    out = write_int8(deploy, int8_path(reference), calibration)
    measured = agreement(deploy, out, check_clips if check_clips is not None else calibration)
    print(f"int8 graph: top-1 agrees with {deploy.name} on {measured['top1_agreement']:.1%} of "
          f"{measured['clips']} clips, max logit difference {measured['max_abs_difference']:.3f} (logits up to "
          f"{measured['logit_scale']:.1f}); not verified to the float32 bound: measure accuracy before serving it")
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    sys.exit(run_cli(main))
