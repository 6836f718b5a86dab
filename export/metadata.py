"""What an exported graph says about itself, in the ONNX file's `metadata_props`.

Everything a runtime needs to preprocess a live skeleton exactly as training did (class names,
layout, window, persons, channels, modality, normalisation), where the graph came from (the
checkpoint's SHA-256 and name, the cocodiff version) and how it was made (exporter, opset,
precision, input layout, outputs). ONNX metadata values are strings: text is stored as is,
everything else (numbers, booleans, lists, dicts) as JSON, and `read_metadata` decodes each key
by the type it is known to have.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cocodiff import __version__
from cocodiff.errors import CocodiffError
from cocodiff.scoring import sha256_of

# key -> stored as plain text (str) or as JSON (everything else)
TEXT_KEYS = ("layout", "modality", "backbone", "dataset", "checkpoint_sha256", "checkpoint_name",
             "cocodiff_version", "trained_with_version", "exporter", "precision", "input_layout")
JSON_KEYS = ("classes", "num_persons", "window", "in_channels", "pre_normalize", "eval_crop_ratio", "use_score",
             "backbone_options", "opset", "outputs", "min_frames")
REQUIRED = ("classes", "layout", "num_persons", "window", "in_channels", "modality", "pre_normalize",
            "eval_crop_ratio", "use_score", "backbone", "backbone_options", "checkpoint_sha256", "checkpoint_name",
            "cocodiff_version", "exporter", "opset", "precision", "input_layout", "outputs")


def onnx_metadata(checkpoint: dict, checkpoint_path: Path) -> dict[str, str]:
    """The checkpoint's part of the metadata: its deployment meta, hash and name (all str)."""
    meta = checkpoint["meta"]
    path = Path(checkpoint_path)
    values: dict[str, Any] = {
        "classes": [str(name) for name in meta["classes"]],
        "layout": meta["layout"],
        "num_persons": int(meta["num_persons"]),
        "window": int(meta["window"]),
        "in_channels": int(meta["in_channels"]),
        "modality": meta["modality"],
        "pre_normalize": bool(meta.get("pre_normalize", False)),
        "eval_crop_ratio": float(meta.get("eval_crop_ratio", 1.0)),
        "use_score": bool(meta.get("use_score", False)),
        "backbone": meta["backbone"],
        "backbone_options": dict(meta["backbone_options"]),
        "dataset": str(meta.get("dataset", "")),
        "checkpoint_sha256": sha256_of(path),
        "checkpoint_name": "/".join(path.resolve().parts[-2:]),  # run folder and file: "ucla_joint/best.pt"
        "cocodiff_version": __version__,
        "trained_with_version": str(meta.get("cocodiff_version", "")),
    }
    return encode(values)


def export_metadata(*, exporter: str, opset: int, precision: str, outputs: list[str], input_layout: str,
                    min_frames: int) -> dict[str, str]:
    """How the graph was made (all str)."""
    return encode({"exporter": exporter, "opset": int(opset), "precision": precision, "outputs": list(outputs),
                   "input_layout": input_layout, "min_frames": int(min_frames)})


def encode(values: dict[str, Any]) -> dict[str, str]:
    return {key: value if key in TEXT_KEYS else json.dumps(value, sort_keys=True) for key, value in values.items()}


def decode(props: dict[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, text in props.items():
        if key in JSON_KEYS:
            try:
                values[key] = json.loads(text)
            except json.JSONDecodeError:
                raise CocodiffError(f"ONNX metadata {key!r} is not valid JSON: {text[:60]!r}") from None
        else:
            values[key] = text
    return values


def attach(model, metadata: dict[str, str]) -> None:
    """Replace `model.metadata_props` (an onnx.ModelProto) with `metadata`."""
    del model.metadata_props[:]
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value


def read_metadata(onnx_path: str | Path) -> dict[str, Any]:
    """The metadata of a cocodiff ONNX export, decoded; one-line CocodiffError otherwise."""
    import onnx

    path = Path(onnx_path)
    if not path.is_file():
        raise CocodiffError(f"{path}: no such ONNX file")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as error:  # noqa: BLE001 - protobuf raises several types for a bad file
        raise CocodiffError(f"{path}: not an ONNX model ({type(error).__name__})") from None
    props = {entry.key: entry.value for entry in model.metadata_props}
    missing = [key for key in REQUIRED if key not in props]
    if missing:
        raise CocodiffError(f"{path}: not a cocodiff export (its metadata lacks {', '.join(missing)})")
    return decode(props)
