"""`python -m export.trt CKPT`: ONNX file, reference outputs, then a TensorRT engine where possible.

The ONNX file and the onnxruntime reference outputs are always written first: they are useful on
any machine, while an engine can only be built where TensorRT and a CUDA GPU are (and is tied to
that GPU and TensorRT version). Without them the command prints the equivalent `trtexec` and
`polygraphy` lines for a GPU host and exits 2 with one line saying what is missing.

Precision. TensorRT 11 removed the FP16 builder flag: every network is strongly typed, so half
precision has to be in the ONNX file itself. `--fp16` therefore always exports the half-precision
ONNX, on every TensorRT version, so the same file and the same reference outputs serve both.
TensorRT 10 builds it weakly typed with the FP16 flag as well (the builder may then also pick half
kernels for layers the file keeps in float32); TensorRT 11 builds it strongly typed. An fp32 engine
is built without TF32, so that it matches onnxruntime to the reference tolerance.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

from cocodiff.atomic import atomic_write_bytes, atomic_write_text
from cocodiff.cli import run_cli
from cocodiff.engine_file import SIDECAR_FORMAT, TensorRTUnavailable, load_tensorrt, sidecar_path
from cocodiff.errors import CocodiffError, first_line
from cocodiff.hashing import sha256_of
from export.metadata import ExportMetadata, read_metadata
from export.reference import TOLERANCE, InputSpec, input_spec, polygraphy_shape, reference_paths, save_reference

Shape = tuple[int, int]  # (B, T): batch and frame count, the two dynamic axes


@dataclass(frozen=True)
class EngineInfo:
    path: Path
    sidecar: Path
    tensorrt_version: str
    precision: str
    shapes: dict[str, tuple[int, ...]]  # min / opt / max, full (B, M, T, V, C)
    gpu: str | None
    timing_cache: Path | None


def check_profile(min_shape: Shape, opt_shape: Shape, max_shape: Shape) -> None:
    """TensorRT needs 1 <= min <= opt <= max on each axis; say which axis breaks it."""
    for axis, name in enumerate(("batch", "frame count")):
        low, mid, high = min_shape[axis], opt_shape[axis], max_shape[axis]
        if not 1 <= low <= mid <= high:
            raise CocodiffError(f"profile {name}: need 1 <= min <= opt <= max, got {low}, {mid}, {high}")


def profile_shapes(spec: InputSpec, min_shape: Shape, opt_shape: Shape, max_shape: Shape,
                   min_frames: int = 1) -> dict[str, tuple[int, ...]]:
    """Full (B, M, T, V, C) profile shapes; refuses frame counts below what the graph admits."""
    check_profile(min_shape, opt_shape, max_shape)
    if min_shape[1] < min_frames:
        raise CocodiffError(f"profile min frame count {min_shape[1]} is below the {min_frames} frames this graph needs")
    return {"min": spec.shape(*min_shape), "opt": spec.shape(*opt_shape), "max": spec.shape(*max_shape)}


def reference_shapes(min_shape: Shape, opt_shape: Shape, max_shape: Shape) -> list[Shape]:
    """min, opt, then each axis at its maximum alone: every extreme is covered, while the files
    stay small (the full max corner alone, 16 x 300 frames, would be megabytes of JSON)."""
    shapes = [min_shape, opt_shape, (max_shape[0], min_shape[1]), (min_shape[0], max_shape[1])]
    return list(dict.fromkeys(shapes))


def tensorrt_major(trt) -> int:
    return int(str(trt.__version__).split(".")[0])


def onnx_is_half(onnx_path: str | os.PathLike, spec: InputSpec, metadata: ExportMetadata) -> bool:
    """Whether the file computes in half precision: its metadata, its input, or its weights say so."""
    import onnx

    if str(metadata.provenance.get("precision", "")).lower() in ("fp16", "float16", "half"):
        return True
    if spec.half:
        return True
    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    return any(tensor.data_type == onnx.TensorProto.FLOAT16 for tensor in graph.initializer)


def build_engine(onnx_path: str | os.PathLike, engine_path: str | os.PathLike, *, min_shape: Shape,
                 opt_shape: Shape, max_shape: Shape, fp16: bool = False, workspace_mib: int = 1024,
                 timing_cache: str | os.PathLike | None = None, verbose: bool = False) -> EngineInfo:
    """Build a serialized engine with one optimisation profile over B and T; write it and its sidecar."""
    onnx_path, engine_path = Path(onnx_path), Path(engine_path)
    spec = input_spec(onnx_path)
    metadata = read_metadata(onnx_path)
    shapes = profile_shapes(spec, min_shape, opt_shape, max_shape, int(metadata.provenance["min_frames"]))
    half = onnx_is_half(onnx_path, spec, metadata)
    trt = load_tensorrt()
    major = tensorrt_major(trt)
    if fp16 and major >= 11 and not half:
        raise CocodiffError(f"TensorRT {trt.__version__} takes half precision only from a half-precision ONNX file, "
                            f"and {onnx_path} is float32: export it with --fp16")
    logger = trt.Logger(trt.Logger.VERBOSE if verbose else trt.Logger.WARNING)
    builder = _create_builder(trt, logger)
    network = builder.create_network(_network_flags(trt, major))
    _parse(trt, network, logger, onnx_path)
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_mib) << 20)
    _set_precision(trt, config, major, half=fp16 or half)
    profile = builder.create_optimization_profile()
    profile.set_shape(spec.name, shapes["min"], shapes["opt"], shapes["max"])
    config.add_optimization_profile(profile)
    cache_path = Path(timing_cache) if timing_cache is not None else None
    if cache_path is not None:
        _attach_timing_cache(config, cache_path)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise CocodiffError(f"TensorRT could not build an engine from {onnx_path} (its log above says why)")
    engine = bytes(memoryview(serialized))
    if cache_path is not None:
        atomic_write_bytes(cache_path, bytes(memoryview(config.get_timing_cache().serialize())))
    atomic_write_bytes(engine_path, engine)
    precision = "fp16" if fp16 or half else "fp32"
    sidecar = sidecar_path(engine_path)
    info = EngineInfo(engine_path, sidecar, str(trt.__version__), precision, shapes, _gpu_name(), cache_path)
    atomic_write_text(sidecar, json.dumps(_sidecar(info, onnx_path, engine, spec, metadata,
                                                   strongly_typed=major >= 11, workspace_mib=workspace_mib),
                                          indent=2) + "\n")
    return info


def _create_builder(trt, logger):
    """A builder needs a CUDA device; without one TensorRT raises or hands back nothing."""
    try:
        builder = trt.Builder(logger)
    except Exception as error:  # TensorRT reports a missing driver or device as a generic error
        raise TensorRTUnavailable(f"no CUDA GPU that TensorRT can use ({first_line(error)})") from error
    if not builder:
        raise TensorRTUnavailable("no CUDA GPU that TensorRT can use (TensorRT could not create a builder)")
    return builder


def _network_flags(trt, major: int) -> int:
    """Explicit batch is the only mode since TensorRT 10; 11 is strongly typed whether asked or not."""
    flag = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
    return 1 << int(flag) if major >= 11 and flag is not None else 0


def _parse(trt, network, logger, onnx_path: Path) -> None:
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = [first_line(parser.get_error(i)) for i in range(parser.num_errors)]
        raise CocodiffError(f"TensorRT could not parse {onnx_path}: {'; '.join(errors) or 'no reason given'}")


def _set_precision(trt, config, major: int, *, half: bool) -> None:
    if half and major < 11:
        config.set_flag(trt.BuilderFlag.FP16)
    if not half and hasattr(trt.BuilderFlag, "TF32"):
        config.clear_flag(trt.BuilderFlag.TF32)  # fp32 means fp32: TF32 alone can miss a 1e-3 tolerance


def _attach_timing_cache(config, path: Path) -> None:
    """Reuse earlier tactic timings; a cache TensorRT refuses (other GPU or version) starts afresh."""
    data = path.read_bytes() if path.is_file() else b""
    cache = config.create_timing_cache(data)
    if cache is None or not config.set_timing_cache(cache, False):
        if data:
            print(f"warning: {path} does not fit this GPU or TensorRT version; starting a new timing cache",
                  file=sys.stderr)
        cache = config.create_timing_cache(b"")
        config.set_timing_cache(cache, True)


def _gpu_name() -> str | None:
    try:
        import torch

        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except Exception:  # the name is informative only
        return None


def _sidecar(info: EngineInfo, onnx_path: Path, engine: bytes, spec: InputSpec, metadata: ExportMetadata, *,
             strongly_typed: bool, workspace_mib: int) -> dict[str, Any]:
    """What a runtime needs besides the engine: the contract, the profile, and where it came from."""
    return {
        "format": SIDECAR_FORMAT,
        "engine": info.path.name,
        "engine_sha256": hashlib.sha256(engine).hexdigest(),
        "onnx": onnx_path.name,
        "onnx_sha256": sha256_of(onnx_path),
        "checkpoint_sha256": metadata.provenance.get("checkpoint_sha256"),
        "input": spec.name,
        "input_dtype": str(spec.dtype),
        "profile": {key: list(shape) for key, shape in info.shapes.items()},
        "precision": info.precision,
        "strongly_typed": strongly_typed,
        "tensorrt_version": info.tensorrt_version,
        "gpu": info.gpu,
        "workspace_mib": workspace_mib,
        "timing_cache": str(info.timing_cache) if info.timing_cache else None,
        "contract": metadata.contract.to_dict(),
        "provenance": metadata.provenance,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def gpu_host_commands(onnx_path: Path, engine_path: Path, shapes: dict[str, tuple[int, ...]], *, name: str,
                      precision: str, workspace_mib: int, timing_cache: Path | None) -> list[str]:
    """The same build and check for a GPU host, as `trtexec` and `polygraphy` command lines."""
    inputs, outputs = reference_paths(onnx_path)
    tolerance = str(TOLERANCE[precision])
    dims = {key: "x".join(str(d) for d in shape) for key, shape in shapes.items()}
    build = ["trtexec", f"--onnx={onnx_path}", f"--saveEngine={engine_path}", f"--minShapes={name}:{dims['min']}",
             f"--optShapes={name}:{dims['opt']}", f"--maxShapes={name}:{dims['max']}",
             f"--memPoolSize=workspace:{workspace_mib}M"]
    build += [f"--timingCacheFile={timing_cache}"] if timing_cache else []
    build += ["--fp16"] if precision == "fp16" else ["--noTF32"]
    profile = [arg for key in ("min", "opt", "max")
               for arg in (f"--trt-{key}-shapes", f"{name}:{polygraphy_shape(shapes[key])}")]
    compare = ["--load-inputs", str(inputs), "--load-outputs", str(outputs), "--atol", tolerance, "--rtol", tolerance]
    lines = [shlex.join(build)]
    if precision == "fp16":
        lines.append("# TensorRT 11: leave out --fp16 (the ONNX file is already half precision)")
    lines.append(shlex.join(["polygraphy", "run", str(onnx_path), "--trt", *profile, *compare]))
    lines.append(shlex.join(["polygraphy", "run", str(engine_path), "--model-type", "engine", "--trt", *compare]))
    return lines


def parse_shape(text: str) -> Shape:
    try:
        batch, frames = (int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected BATCH,FRAMES such as 1,64, got {text!r}") from None
    return batch, frames


def _arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m export.trt", description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--out", type=Path, help="engine file (default: the ONNX file's name, .engine)")
    parser.add_argument("--onnx", type=Path, help="ONNX file (default: the engine's name, .onnx)")
    parser.add_argument("--fp16", action="store_true", help="half precision (exports a half-precision ONNX)")
    parser.add_argument("--min", type=parse_shape, default=(1, 16), metavar="B,T",
                        help="smallest batch,frames the engine takes (default 1,16)")
    parser.add_argument("--opt", type=parse_shape, default=(1, 64), metavar="B,T",
                        help="the shape TensorRT tunes for (default 1,64)")
    parser.add_argument("--max", type=parse_shape, default=(16, 300), metavar="B,T",
                        help="largest batch,frames the engine takes (default 16,300)")
    parser.add_argument("--workspace", type=int, default=1024, metavar="MIB", help="builder workspace limit")
    parser.add_argument("--timing-cache", type=Path,
                        help="persisted tactic timings (default: timing.cache beside the engine)")
    parser.add_argument("--opset", type=int, default=18)
    parser.add_argument("--seed", type=int, default=0, help="seed of the reference inputs")
    parser.add_argument("--verbose", action="store_true", help="TensorRT's verbose log")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from export.exporter import export_onnx

    args = _arguments().parse_args(argv)
    check_profile(args.min, args.opt, args.max)
    onnx_out = args.onnx or (args.out.with_suffix(".onnx") if args.out else None)
    exported = export_onnx(args.checkpoint, onnx_out, opset=args.opset, fp16=args.fp16)
    onnx_path = Path(exported.path)
    print(f"wrote {onnx_path} (opset {exported.opset}, max |difference| from PyTorch {exported.max_abs_error:.2g})")
    spec = input_spec(onnx_path)
    shapes = profile_shapes(spec, args.min, args.opt, args.max, exported.min_frames)
    inputs, outputs = save_reference(onnx_path, shapes=reference_shapes(args.min, args.opt, args.max), seed=args.seed)
    print(f"wrote onnxruntime reference inputs {inputs} and outputs {outputs}")
    engine_path = args.out or onnx_path.with_suffix(".engine")
    timing_cache = args.timing_cache or engine_path.parent / "timing.cache"
    precision = "fp16" if args.fp16 else "fp32"
    commands = gpu_host_commands(onnx_path, engine_path, shapes, name=spec.name, precision=precision,
                                 workspace_mib=args.workspace, timing_cache=timing_cache)
    try:
        info = build_engine(onnx_path, engine_path, min_shape=args.min, opt_shape=args.opt, max_shape=args.max,
                            fp16=args.fp16, workspace_mib=args.workspace, timing_cache=timing_cache,
                            verbose=args.verbose)
    except TensorRTUnavailable:
        print("on a CUDA host with TensorRT, build the engine and compare it with the reference outputs:")
        print("\n".join(f"  {line}" for line in commands))
        raise
    print(f"wrote {info.path} and {info.sidecar} (TensorRT {info.tensorrt_version}, {info.precision}, "
          f"GPU {info.gpu or 'unknown'})")
    print(f"compare it with the reference outputs:\n  {commands[-1]}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
