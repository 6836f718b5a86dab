"""A correspondence between one dataset's classes and a model's, to evaluate across datasets.

A class-map file holds one pair a line, the data's class name, `->`, then the model's:

    # UTD-MHAD -> the embedded classes
    right hand wave -> wave right hand
    jogging in place -> march in place
    walking in place -> march in place

Several data classes may map to one model class; data classes left out are not evaluated.
Blank lines and lines starting with `#` are ignored. Every name must be one of its side's class
names exactly, so a typo is an error naming the line rather than a silently empty class.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from cocodiff.errors import DataError

ARROW = "->"


@dataclass(frozen=True)
class ClassMap:
    """Pairs (data class name, model class name), in file order."""

    pairs: tuple[tuple[str, str], ...]
    source: str  # the file, for messages

    def check(self, data_classes: Sequence[str], model_classes: Sequence[str]) -> None:
        """Every name exists on its side, and no data class maps twice."""
        for side, names, index in (("data", data_classes, 0), ("model", model_classes, 1)):
            unknown = [pair[index] for pair in self.pairs if pair[index] not in names]
            if unknown:
                raise DataError(self.source, f"{unknown[0]!r} is not a {side} class; the {side} classes are: "
                                             f"{', '.join(map(str, names))}")
        seen: set[str] = set()
        for data_name, _ in self.pairs:
            if data_name in seen:
                raise DataError(self.source, f"data class {data_name!r} is mapped more than once")
            seen.add(data_name)

    def apply(self, samples: Sequence[dict[str, Any]], data_classes: Sequence[str],
              model_classes: Sequence[str]) -> list[dict[str, Any]]:
        """The samples of mapped classes, relabelled with the model's class index; each keeps its
        original class name as `source_class`."""
        self.check(data_classes, model_classes)
        target = {data_name: list(model_classes).index(model_name) for data_name, model_name in self.pairs}
        kept = []
        for sample in samples:
            name = data_classes[sample["label"]] if 0 <= sample["label"] < len(data_classes) else None
            if name in target:
                kept.append({**sample, "label": target[name], "source_class": name})
        return kept


def read_class_map(path: str | os.PathLike) -> ClassMap:
    """Parse a class-map file, or a one-line error naming the file and the line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(path, "no such file (--class-map)") from None
    except IsADirectoryError:
        raise DataError(path, "is a directory, expected a class-map text file") from None
    except UnicodeDecodeError:
        raise DataError(path, "is not UTF-8 text (a class map is 'data class -> model class' lines)") from None
    pairs = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.count(ARROW) != 1:
            raise DataError(path, f"line {number}: expected 'data class {ARROW} model class', got {line!r}")
        data_name, model_name = (part.strip() for part in line.split(ARROW))
        if not data_name or not model_name:
            raise DataError(path, f"line {number}: a class name is empty in {line!r}")
        pairs.append((data_name, model_name))
    if not pairs:
        raise DataError(path, f"holds no 'data class {ARROW} model class' line")
    return ClassMap(tuple(pairs), str(path))
