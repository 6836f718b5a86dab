"""Errors meant for the person at the keyboard.

Anything raised as a `CocodiffError` is printed by the command-line entry points as a single
line (no traceback) and ends the process with exit code 2. Internal bugs stay ordinary
exceptions, so they keep their traceback.
"""

from __future__ import annotations

import os


class CocodiffError(Exception):
    """A problem with the user's input or environment, described in one line."""


class DataError(CocodiffError):
    """A data file (or one record in it) that cannot be used, and why."""

    def __init__(self, source: str | os.PathLike, problem: str):
        self.source = str(source)
        self.problem = problem
        super().__init__(f"{self.source}: {problem}")


def first_line(error: object) -> str:
    """The first line of an error's message (its type's name if it has none), for a
    one-line report of a failure in a library we call."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
