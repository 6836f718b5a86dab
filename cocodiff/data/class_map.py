"""Class-name text files: a list of class names, and a correspondence between one dataset's
classes and a model's, to evaluate across datasets.

`read_class_names(path)` reads one name a line (for `data.classes=FILE` and
`python -m cocodiff.text generate --classes`); blank lines and `#` comments are skipped, a
repeated name is refused.

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


def _read_text(path: Path, what: str) -> str:
    """The UTF-8 text of a small text file, or a one-line error; `what` says what it should be."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(path, f"no such file ({what})") from None
    except IsADirectoryError:
        raise DataError(path, f"is a directory; expected {what}") from None
    except UnicodeDecodeError:
        raise DataError(path, f"is not UTF-8 text; expected {what}") from None
    except OSError as error:
        raise DataError(path, f"cannot read ({error.strerror or error})") from None


def _content_lines(text: str):
    """(line number, line) for each line that is not blank or a `#` comment; spaces collapsed."""
    for number, line in enumerate(text.splitlines(), start=1):
        line = " ".join(line.split())
        if line and not line.startswith("#"):
            yield number, line


def read_class_names(path: str | os.PathLike) -> list[str]:
    """Class names, one a line in label order, or a one-line error naming the file."""
    path = Path(path)
    first_line: dict[str, int] = {}
    for number, name in _content_lines(_read_text(path, "a text file of class names, one a line")):
        if name in first_line:
            raise DataError(path, f"names class {name!r} twice (line {first_line[name]} and line {number})")
        first_line[name] = number
    if not first_line:
        raise DataError(path, "names no class (one class name a line)")
    return list(first_line)


def read_class_map(path: str | os.PathLike) -> ClassMap:
    """Parse a class-map file, or a one-line error naming the file and the line."""
    path = Path(path)
    pairs = []
    for number, line in _content_lines(_read_text(path, f"a class-map text file of 'data class {ARROW} model class' lines")):
        if line.count(ARROW) != 1:
            raise DataError(path, f"line {number}: expected 'data class {ARROW} model class', got {line!r}")
        data_name, model_name = (part.strip() for part in line.split(ARROW))
        if not data_name or not model_name:
            raise DataError(path, f"line {number}: a class name is empty in {line!r}")
        pairs.append((data_name, model_name))
    if not pairs:
        raise DataError(path, f"holds no 'data class {ARROW} model class' line")
    return ClassMap(tuple(pairs), str(path))
