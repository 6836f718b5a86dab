"""python -m serve MODEL [--host 127.0.0.1] [--port 8000]: the model behind an HTTP API.

MODEL is a checkpoint (.pt), an ONNX export (.onnx) or a TensorRT engine. The API (FastAPI under
uvicorn) classifies whole clips and runs streaming sessions; it documents itself at /docs and
/openapi.json. It listens on 127.0.0.1; any other address needs `--key` (or $COCODIFF_API_KEY),
which clients send in the X-API-Key header.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Sequence

from cocodiff.cli import run_cli
from cocodiff.errors import CocodiffError
from serve.network import require_key_off_loopback


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m serve", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path, help="a checkpoint (.pt), ONNX export (.onnx) or TensorRT engine")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--key", help="API key, required off loopback (or $COCODIFF_API_KEY)")
    parser.add_argument("--max-sessions", type=int, default=256, help="streaming sessions open at once")
    parser.add_argument("--idle-timeout", type=float, default=60.0, help="seconds before an idle session expires")
    parser.add_argument("--max-body-mib", type=float, default=8.0, help="the largest request body accepted")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for the model (0: the runtime's default)")
    return parser


def check_port_free(host: str, port: int) -> None:
    """One line now, rather than uvicorn's log and exit code 1 later, for an address in use."""
    import socket

    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as error:
        raise CocodiffError(f"cannot listen on {host}:{port} ({error.strerror or error})") from None


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for name, ok in (("--port", 1 <= args.port <= 65535), ("--max-sessions", args.max_sessions >= 1),
                     ("--idle-timeout", args.idle_timeout > 0), ("--max-body-mib", args.max_body_mib > 0),
                     ("--threads", args.threads >= 0)):
        if not ok:
            raise CocodiffError(f"{name} {getattr(args, name[2:].replace('-', '_'))} is out of range")
    key = args.key or os.environ.get("COCODIFF_API_KEY")
    require_key_off_loopback(args.host, key, how="pass --key (or set COCODIFF_API_KEY); clients send it in "
                                                  "the X-API-Key header")
    check_port_free(args.host, args.port)
    from serve.backends import open_backend
    from serve.http.app import ServerSettings, create_app

    backend = open_backend(args.model, threads=args.threads)
    settings = ServerSettings(api_key=key, max_body_bytes=int(args.max_body_mib * (1 << 20)),
                              max_sessions=args.max_sessions, idle_timeout_s=args.idle_timeout)
    app = create_app(backend, settings)
    print(f"model: {args.model}: {backend.describe()}")
    print(f"serving on http://{args.host}:{args.port} (API documentation at /docs)", flush=True)
    import uvicorn

    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
