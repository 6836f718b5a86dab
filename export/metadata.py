"""What an exported graph says about itself, in the ONNX file's `metadata_props`.

Two parts, both plain strings (ONNX metadata values are strings):

- the deployment contract (`cocodiff.contract.DeploymentContract`), one key per field, written
  by `to_metadata` and read back by `from_metadata`: the same object and the same strict
  validation as the checkpoint's, so a runtime preprocesses live skeletons exactly as training
  did;
- provenance: where the graph came from (the checkpoint's SHA-256 and name, the cocodiff version
  that exported it) and how it was made (exporter, opset, precision, input layout, outputs, the
  smallest frame count). Text is stored as is, numbers and lists as JSON.

A runtime that has only onnxruntime reads the same keys through
`session.get_modelmeta().custom_metadata_map`; `read_metadata` reads them with the onnx package.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from cocodiff import __version__
from cocodiff.contract import DeploymentContract
from cocodiff.errors import CocodiffError
from cocodiff.hashing import sha256_of

PROVENANCE_TEXT = ("checkpoint_sha256", "checkpoint_name", "cocodiff_version", "exporter", "precision",
                   "input_layout")
PROVENANCE_JSON = ("opset", "outputs", "min_frames")


@dataclass(frozen=True)
class ExportMetadata:
    contract: DeploymentContract
    provenance: dict[str, Any]  # PROVENANCE_TEXT and PROVENANCE_JSON keys, decoded


def checkpoint_metadata(contract: DeploymentContract, checkpoint_path: Path) -> dict[str, str]:
    """The checkpoint's part of the metadata: its contract, hash and name (all str)."""
    path = Path(checkpoint_path)
    return {**contract.to_metadata(),
            "checkpoint_sha256": sha256_of(path),
            "checkpoint_name": "/".join(path.resolve().parts[-2:]),  # run folder and file: "ucla_joint/best.pt"
            "cocodiff_version": __version__}


def export_metadata(*, exporter: str, opset: int, precision: str, outputs: list[str], input_layout: str,
                    min_frames: int) -> dict[str, str]:
    """How the graph was made (all str)."""
    return {"exporter": exporter, "opset": json.dumps(int(opset)), "precision": precision,
            "outputs": json.dumps(list(outputs)), "input_layout": input_layout, "min_frames": json.dumps(int(min_frames))}


def decode(props: Mapping[str, str], source: str) -> ExportMetadata:
    """The contract and provenance among `props`; one CocodiffError naming `source` otherwise."""
    contract = DeploymentContract.from_metadata(props, source)
    missing = [key for key in PROVENANCE_TEXT + PROVENANCE_JSON if key not in props]
    if missing:
        raise CocodiffError(f"{source}: not a cocodiff export (its metadata lacks {', '.join(missing)})")
    provenance: dict[str, Any] = {key: props[key] for key in PROVENANCE_TEXT}
    for key in PROVENANCE_JSON:
        try:
            provenance[key] = json.loads(props[key])
        except json.JSONDecodeError:
            raise CocodiffError(f"{source}: ONNX metadata {key!r} is not valid JSON: {props[key][:60]!r}") from None
    provenance["graph"] = props.get("graph", "reference")  # "deploy": the folded graph of export.onnx
    return ExportMetadata(contract, provenance)


def attach(model, metadata: dict[str, str]) -> None:
    """Replace `model.metadata_props` (an onnx.ModelProto) with `metadata`."""
    del model.metadata_props[:]
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value


def read_metadata(onnx_path: str | Path) -> ExportMetadata:
    """The metadata of a cocodiff ONNX export, decoded; one-line CocodiffError otherwise."""
    import onnx

    path = Path(onnx_path)
    if not path.is_file():
        raise CocodiffError(f"{path}: no such ONNX file")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as error:  # noqa: BLE001 - protobuf raises several types for a bad file
        raise CocodiffError(f"{path}: not an ONNX model ({type(error).__name__})") from None
    return decode({entry.key: entry.value for entry in model.metadata_props}, str(path))
