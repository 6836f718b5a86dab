"""python -m demo [--model PATH] [--pose-model PATH]: the live webcam demo in the browser.

With no arguments it serves the checkpoint that `python -m cocodiff.train` wrote
(runs/embedded/best.pt) and MediaPipe's full pose model from the cache (downloaded and checked
on first use where the network allows; see demo.pose_model). It listens on 127.0.0.1; another
address needs a key (`--key` or $COCODIFF_DEMO_KEY), asked for by the browser as the password
of user "demo".
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Sequence

from cocodiff.cli import run_cli
from cocodiff.errors import CocodiffError
from demo import DEFAULT_MODEL
from serve.network import require_key_off_loopback


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help=f"a checkpoint, ONNX export or engine (default {DEFAULT_MODEL})")
    parser.add_argument("--pose-model", type=Path, help="MediaPipe's pose_landmarker_full.task (default: the cache)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    parser.add_argument("--key", help="required for any address but loopback (or $COCODIFF_DEMO_KEY)")
    parser.add_argument("--num-poses", type=int, default=2, help="people to look for (default 2; 1 is faster)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    key = args.key or os.environ.get("COCODIFF_DEMO_KEY")
    require_key_off_loopback(args.host, key, how="pass --key (or set COCODIFF_DEMO_KEY), which the browser "
                                                  "will ask for as user 'demo'")
    model = args.model or DEFAULT_MODEL
    if not model.exists():
        hint = ("train the default model first with `python -m cocodiff.train` (about 9 minutes on 2 CPU cores)"
                if args.model is None else "check the path")
        raise CocodiffError(f"{model}: no such model file; {hint}, or pass --model PATH")
    from demo.app import MAX_UPLOAD, DemoModel, build_app
    from demo.pose_model import pose_model_path
    from demo.session import DemoConfig

    config = DemoConfig(num_poses=args.num_poses)  # checked before the models load
    demo_model = DemoModel.load(model, pose_model_path(args.pose_model), config)
    print(f"model: {demo_model.describe()}")
    print(f"pose model: {demo_model.pose_model}")
    app = build_app(demo_model)
    app.queue(default_concurrency_limit=2)
    app.launch(server_name=args.host, server_port=args.port, auth=("demo", key) if key else None,
               max_file_size=MAX_UPLOAD, show_error=True, quiet=False)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
