"""python -m export.triton CKPT --out REPO: a Triton Inference Server model repository.

    python -m export.triton runs/embedded/best.pt --out model_repository
    python -m export.triton runs/embedded/best.pt --out model_repository --engine runs/embedded/best.engine --gpu

Writes REPO/NAME/{config.pbtxt, labels.txt, 1/model.onnx} (see export.triton_repository): the
checkpoint exported to ONNX and verified exactly as `python -m export.onnx` does (an existing
CKPT.onnx beside the checkpoint is reused when its metadata names this checkpoint), batch up to
`--max-batch`, frames dynamic, dynamic batching, the class labels and the deployment contract.
With `--engine` (a TensorRT engine from `python -m export.trt`, built on the serving GPU), or
when CKPT.engine exists beside the checkpoint, it adds REPO/NAME_trt with `model.plan`. Serve
the repository with the official Triton container on a GPU host:

    docker run --gpus all --rm -p 8000:8000 -p 8001:8001 -p 8002:8002 \\
        -v $PWD/model_repository:/models nvcr.io/nvidia/tritonserver:<yy.mm>-py3 \\
        tritonserver --model-repository=/models
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from cocodiff.cli import run_cli
from cocodiff.engine_file import read_sidecar, sidecar_path
from cocodiff.errors import CocodiffError
from export.triton_repository import RepositoryOptions, write_repository


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m export.triton", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--out", type=Path, required=True, help="the model repository folder")
    parser.add_argument("--name", default="cocodiff", help="the model's name in the repository (default cocodiff)")
    parser.add_argument("--max-batch", type=int, default=16, help="Triton's max_batch_size (default 16)")
    parser.add_argument("--queue-delay-us", type=int, default=2000, help="dynamic batcher's wait (default 2000 us)")
    parser.add_argument("--instances", type=int, default=1, help="model instances (default 1)")
    parser.add_argument("--gpu", action="store_true", help="instances on the GPU (ONNX Runtime's CUDA provider)")
    parser.add_argument("--engine", type=Path, help="a TensorRT engine of this checkpoint: adds NAME_trt")
    return parser


def exported_onnx(checkpoint: Path) -> Path:
    """CKPT.onnx beside the checkpoint when it is this checkpoint's verified export, else a new one."""
    from cocodiff.hashing import sha256_of
    from export.exporter import default_out, export_onnx
    from export.metadata import read_metadata

    onnx_file = default_out(checkpoint)
    if onnx_file.is_file():
        try:
            if read_metadata(onnx_file).provenance.get("checkpoint_sha256") == sha256_of(checkpoint):
                return onnx_file
        except CocodiffError:
            pass
    return export_onnx(checkpoint, onnx_file).path


def _engine_of(engine: Path, checkpoint: Path) -> bool:
    """The engine's sidecar names `checkpoint` (by SHA-256); an engine without one cannot say."""
    from cocodiff.hashing import sha256_of

    if not engine.is_file():
        raise CocodiffError(f"{engine}: no such TensorRT engine")
    sidecar = read_sidecar(sidecar_path(engine))
    named = (sidecar or {}).get("checkpoint_sha256")
    return named is None or named == sha256_of(checkpoint)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from export.metadata import read_metadata

    if not args.checkpoint.is_file():
        raise CocodiffError(f"{args.checkpoint}: no such checkpoint")
    onnx_file = exported_onnx(args.checkpoint)
    contract = read_metadata(onnx_file).contract
    max_batch = args.max_batch
    engine = args.engine
    beside = args.checkpoint.with_suffix(".engine")  # what `python -m export.trt CKPT` builds
    if engine is None and beside.is_file():
        engine = beside if _engine_of(beside, args.checkpoint) else None
        print(f"note: {'adding' if engine else 'leaving out'} the TensorRT engine beside the checkpoint, {beside}"
              f"{'' if engine else ' (its sidecar names another checkpoint: rebuild it with python -m export.trt)'}")
    elif engine is not None and not _engine_of(engine, args.checkpoint):
        raise CocodiffError(f"{engine}: its sidecar names another checkpoint than {args.checkpoint} "
                            "(rebuild the engine with python -m export.trt)")
    if engine is not None:
        sidecar = read_sidecar(sidecar_path(engine))
        profile_max = (sidecar or {}).get("profile", {}).get("max")
        if profile_max and profile_max[0] < max_batch:
            print(f"note: the engine's profile allows batches up to {profile_max[0]}; max_batch_size set to it")
            max_batch = profile_max[0]
    options = RepositoryOptions(name=args.name, max_batch_size=max_batch, max_queue_delay_us=args.queue_delay_us,
                                instances=args.instances, gpu=args.gpu)
    for folder in write_repository(onnx_file, contract, args.out, options, engine):
        print(f"wrote {folder}/ (config.pbtxt, labels.txt, 1/{'model.plan' if folder.name.endswith('_trt') else 'model.onnx'})")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
