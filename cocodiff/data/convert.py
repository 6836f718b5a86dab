"""Turn a folder of raw files into samples: progress bar, bad files reported and skipped."""

from __future__ import annotations

import os
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from tqdm import tqdm

from cocodiff.data.sample import Sample
from cocodiff.errors import CocodiffError, DataError


@dataclass
class ConversionReport:
    """What happened to every input file: converted, skipped on purpose, or failed (and why)."""

    converted: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"converted {self.converted}, skipped {len(self.skipped)}, failed {len(self.failed)}"]
        lines += [f"  failed  {path}: {reason}" for path, reason in self.failed]
        if self.skipped:
            reasons: dict[str, int] = {}
            for _, reason in self.skipped:
                reasons[reason] = reasons.get(reason, 0) + 1
            lines += [f"  skipped {count} ({reason})" for reason, count in sorted(reasons.items())]
        return "\n".join(lines)


def _read_or_error(read_one: Callable[[Path], Sample], path: Path) -> Sample | tuple[str, str]:
    try:
        return read_one(path)
    except DataError as error:
        return (str(path), error.problem)
    except OSError as error:
        return (str(path), f"cannot read ({error.strerror or error})")


def convert_files(
    paths: Iterable[Path],
    read_one: Callable[[Path], Sample],
    report: ConversionReport,
    description: str = "reading",
    workers: int = 1,
) -> list[Sample]:
    """Read every path with `read_one` (a picklable callable when `workers > 1`).

    A file that raises `DataError` is recorded in `report.failed` and the run goes on.
    """
    paths = list(paths)
    progress = dict(total=len(paths), desc=description, unit="file", file=sys.stderr, disable=None)
    if workers > 1 and len(paths) > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            chunk = max(1, min(64, len(paths) // (4 * workers)))
            results = list(tqdm(pool.map(_ReadTask(read_one), paths, chunksize=chunk), **progress))
    else:
        results = [_read_or_error(read_one, path) for path in tqdm(paths, **progress)]
    samples = []
    for result in results:
        if isinstance(result, tuple):
            report.failed.append(result)
        else:
            samples.append(result)
    report.converted += len(samples)
    return samples


@dataclass(frozen=True)
class _ReadTask:
    read_one: Callable[[Path], Sample]

    def __call__(self, path: Path) -> Sample | tuple[str, str]:
        return _read_or_error(self.read_one, path)


def list_files(folder: str | os.PathLike, pattern: str) -> list[Path]:
    """The files in `folder` matching `pattern`, sorted; one clear error if there are none."""
    folder = Path(folder)
    if not folder.exists():
        raise DataError(folder, "no such folder")
    if not folder.is_dir():
        raise DataError(folder, "is a file, expected a folder")
    files = sorted(path for path in folder.glob(pattern) if path.is_file())
    if not files:
        raise CocodiffError(f"{folder}: no files matching {pattern!r}")
    return files
