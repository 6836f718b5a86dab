"""Shared plumbing for the `python -m cocodiff...` entry points."""

from __future__ import annotations

import sys
from typing import Callable, Sequence

from cocodiff.errors import CocodiffError


def run_cli(main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None) -> int:
    """Run `main`, turning user-facing errors into one line on stderr and exit code 2."""
    try:
        return int(main(argv) or 0)
    except CocodiffError as error:
        message = " ".join(str(error).split())  # one line, whatever the message held
        print(f"error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
