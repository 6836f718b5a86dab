"""python -m demo.replay LANDMARKS.json [--model PATH] [--fps N]: a landmark recording, live.

The recording (one of `python -m demo.record`, or a plain list of MediaPipe frames) goes through
exactly the webcam's path, frame by frame at its own timestamps: the model's feed (world
landmarks for a 3D model, image landmarks with visibility for a 2D one), the live recogniser,
the timeline. Each label change prints one line; the labels at the end close the output.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from cocodiff.cli import run_cli
from demo import DEFAULT_MODEL


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m demo.replay", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("landmarks", type=Path)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help=f"default {DEFAULT_MODEL}")
    parser.add_argument("--fps", type=float, help="the recording's frame rate (a plain list says none; default 30)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from demo.landmark_files import read_landmark_file
    from demo.session import DemoConfig, LiveSession, check_session_model
    from serve.backends import open_backend

    frames = read_landmark_file(args.landmarks, fps=args.fps)
    backend = open_backend(args.model)
    check_session_model(backend)
    session = LiveSession(backend, None, DemoConfig())
    shown = None
    for frame in frames:
        view = session.process_landmarks(frame)
        if view.headline != shown:
            shown = view.headline
            print(f"{view.timestamp:7.2f}s  {shown}")
    final = session.recognizer.flush()
    names = ", ".join(f"#{p.track} {p.label or p.status} {p.confidence:.2f}" for p in final.persons) or "nobody"
    print(f"end ({frames[-1].timestamp if frames else 0:.2f}s): {names}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
