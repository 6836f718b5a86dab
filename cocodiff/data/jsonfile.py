"""Reading JSON data files with errors that name the file and the problem in one line."""

from __future__ import annotations

import json
import os
from typing import Any

from cocodiff.data.annotations import read_bytes
from cocodiff.errors import DataError


def load_json_object(path: str | os.PathLike) -> dict[str, Any]:
    """The file parsed as one JSON object, or a `DataError` saying why it is not one."""
    data = read_bytes(path)
    if not data.strip():
        raise DataError(path, "empty file, expected JSON")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = None
    if text is None or "\x00" in text:
        raise DataError(path, "not a JSON file (binary data, or text that is not UTF-8)")
    try:
        content = json.loads(text)
    except json.JSONDecodeError as error:
        if error.pos >= len(text.rstrip()):
            raise DataError(path, f"truncated JSON (the text ends at line {error.lineno} before the data is complete)") from None
        raise DataError(path, f"not valid JSON (line {error.lineno} column {error.colno}: {error.msg})") from None
    except RecursionError:
        raise DataError(path, "not usable JSON (nested too deeply)") from None
    if not isinstance(content, dict):
        raise DataError(path, f"expected a JSON object, got {json_type(content)}")
    return content


def json_type(value: Any) -> str:
    """How JSON would call the value's type, for error messages."""
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def is_integer(value: Any) -> bool:
    """A JSON integer (json gives booleans as Python bools, which are ints too)."""
    return isinstance(value, int) and not isinstance(value, bool)


def require_keys(mapping: dict[str, Any], keys: tuple[str, ...], source: str | os.PathLike, where: str = "") -> None:
    """A `DataError` listing the keys of `keys` that `mapping` lacks, if any. `where` names the
    object inside the file (e.g. "data[3]"); at the top level the keys found are listed too."""
    missing = [key for key in keys if key not in mapping]
    if not missing:
        return
    names = ", ".join(map(repr, missing))
    if where:
        raise DataError(source, f"{where} is missing key(s) {names}")
    raise DataError(source, f"missing key(s) {names}; found {sorted(map(str, mapping))}")
