"""python -m serve.triton MODEL [--http-port 8000] [--grpc-port 8001] [--metrics-port 8002]: the
model served by a real Triton Inference Server, with Triton's dynamic batcher in front.

Through NVIDIA's PyTriton: it starts Triton's own server binary (HTTP, gRPC and metrics on
127.0.0.1) and binds our runtime (`serve.backends`: ONNX Runtime for an `.onnx` file) as a
Python model. The model's tensors are those of the ONNX export: `skeleton` float32 (B, M, T, V, C)
-> `logits` float32 (B, K), B up to `--max-batch`, T dynamic, so a client of this server and a
client of the model repository `python -m export.triton` writes send the same requests.

PyTriton 0.7 needs numpy < 2, which the rest of this package (through OpenCV and MediaPipe) does
not allow: run this in an environment of its own, holding `nvidia-pytriton`, `onnxruntime` and
numpy < 2 (constraints-triton.txt), with the repository on PYTHONPATH; tests/test_triton.py builds
one. Triton's Python stub links the system's libpython unless the interpreter's own library
directory comes first on LD_LIBRARY_PATH, which this command arranges by re-executing itself.
"""

from __future__ import annotations

import argparse
import os
import sys
import sysconfig
from pathlib import Path
from typing import Sequence

from cocodiff.cli import run_cli
from cocodiff.errors import CocodiffError

_LIBRARY_FLAG = "COCODIFF_TRITON_LIBDIR_SET"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m serve.triton", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path, help="an ONNX export (.onnx), or any model file serve.backends opens")
    parser.add_argument("--name", default="cocodiff", help="the model's name on the server (default cocodiff)")
    parser.add_argument("--http-port", type=int, default=8000)
    parser.add_argument("--grpc-port", type=int, default=8001)
    parser.add_argument("--metrics-port", type=int, default=8002)
    parser.add_argument("--max-batch", type=int, default=16, help="the largest batch Triton forms (default 16)")
    parser.add_argument("--queue-delay-us", type=int, default=2000,
                        help="how long the dynamic batcher waits to fill a batch (default 2000 us)")
    return parser


def _with_own_libpython() -> None:
    """Re-execute with this interpreter's libpython first on LD_LIBRARY_PATH (see the docstring)."""
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    paths = os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep)
    if os.environ.get(_LIBRARY_FLAG) or not libdir or paths[:1] == [libdir]:
        return
    os.environ["LD_LIBRARY_PATH"] = os.pathsep.join([libdir, *[p for p in paths if p]])
    os.environ[_LIBRARY_FLAG] = "1"
    os.execv(sys.executable, [sys.executable, "-m", "serve.triton", *sys.argv[1:]])


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        import numpy as np
        from pytriton.decorators import batch
        from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
        from pytriton.triton import Triton, TritonConfig
    except ImportError as error:
        raise CocodiffError(f"PyTriton is not installed here ({error}); it needs an environment of its own: "
                            "pip install -c constraints-triton.txt nvidia-pytriton onnxruntime 'numpy<2'") from None
    if int(np.__version__.split(".")[0]) >= 2:
        raise CocodiffError(f"numpy {np.__version__} is installed, and PyTriton 0.7 returns empty outputs with "
                            "numpy 2: use an environment with numpy < 2 (constraints-triton.txt)")
    from serve.backends import open_backend

    backend = open_backend(args.model)
    contract = backend.contract
    persons, _, joints, channels = contract.input_shape

    @batch
    def infer(skeleton):
        return {"logits": backend.predict(skeleton)}

    config = TritonConfig(http_address="127.0.0.1", http_port=args.http_port, grpc_address="127.0.0.1",
                          grpc_port=args.grpc_port, metrics_address="127.0.0.1", metrics_port=args.metrics_port,
                          exit_on_error=True)
    with Triton(config=config) as triton:
        triton.bind(model_name=args.name, infer_func=infer,
                    inputs=[Tensor(name="skeleton", dtype=np.float32, shape=(persons, -1, joints, channels))],
                    outputs=[Tensor(name="logits", dtype=np.float32, shape=(contract.num_classes,))],
                    config=ModelConfig(max_batch_size=args.max_batch,
                                       batcher=DynamicBatcher(max_queue_delay_microseconds=args.queue_delay_us)),
                    strict=True)
        print(f"model {args.name}: {backend.describe()}; Triton on 127.0.0.1: HTTP {args.http_port}, "
              f"gRPC {args.grpc_port}, metrics {args.metrics_port}", flush=True)
        triton.serve()
    return 0


if __name__ == "__main__":
    _with_own_libpython()
    sys.exit(run_cli(main))
