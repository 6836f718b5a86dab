"""A standard Triton Inference Server model repository for a cocodiff model.

    REPO/NAME/config.pbtxt          onnxruntime backend, batch as max_batch_size, frames -1,
                                    dynamic batching, the contract in `parameters`
    REPO/NAME/labels.txt            the class names, one a line, in logit order
    REPO/NAME/1/model.onnx          the verified ONNX export (export.exporter)
    REPO/NAME_trt/...               the same with `model.plan` (tensorrt_plan), when an engine is given

The config is Triton's protobuf text format, written from values only, and read back through
Triton's own schema (`tritonclient.grpc.model_config_pb2`) in the tests. Tensors are those of the
ONNX export: `skeleton` float32 (B, M, T, V, C) -> `logits` float32 (B, K).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cocodiff.contract import DeploymentContract
from cocodiff.errors import CocodiffError

CONTRACT_PARAMETER = "cocodiff_contract"
LABELS_FILE = "labels.txt"


@dataclass(frozen=True)
class RepositoryOptions:
    name: str = "cocodiff"
    max_batch_size: int = 16
    preferred_batch_sizes: tuple[int, ...] = (4, 8, 16)
    max_queue_delay_us: int = 2000
    instances: int = 1
    gpu: bool = False  # instance_group KIND_GPU (ONNX Runtime's CUDA provider) rather than KIND_CPU

    def __post_init__(self) -> None:
        if not self.name or self.name.startswith(".") or not all(c.isalnum() or c in "-_." for c in self.name):
            raise CocodiffError(f"model name {self.name!r}: use letters, digits, '-', '_' and '.' only, "
                                "not starting with '.'")
        if self.max_batch_size < 1 or self.instances < 1:
            raise CocodiffError("max_batch_size and instances must be at least 1")


def _quoted(text: str) -> str:
    """A protobuf text-format string: UTF-8 as it is, with backslash, quote and line breaks escaped
    (text format has no JSON-style \\u escapes)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{escaped}"'


def model_config(contract: DeploymentContract, options: RepositoryOptions, *, platform: str, name: str) -> str:
    """config.pbtxt for one model of the repository."""
    persons, _, joints, channels = contract.input_shape
    preferred = [size for size in options.preferred_batch_sizes if size <= options.max_batch_size]
    kind = "KIND_GPU" if options.gpu or platform == "tensorrt_plan" else "KIND_CPU"
    lines = [
        f"name: {_quoted(name)}",
        f"platform: {_quoted(platform)}",
        f"max_batch_size: {options.max_batch_size}",
        "input [",
        "  {",
        '    name: "skeleton"',
        "    data_type: TYPE_FP32",
        f"    dims: [ {persons}, -1, {joints}, {channels} ]",
        "  }",
        "]",
        "output [",
        "  {",
        '    name: "logits"',
        "    data_type: TYPE_FP32",
        f"    dims: [ {contract.num_classes} ]",
        f"    label_filename: {_quoted(LABELS_FILE)}",
        "  }",
        "]",
        "dynamic_batching {",
        *([f"  preferred_batch_size: [ {', '.join(map(str, preferred))} ]"] if preferred else []),
        f"  max_queue_delay_microseconds: {options.max_queue_delay_us}",
        "}",
        "instance_group [",
        "  {",
        f"    count: {options.instances}",
        f"    kind: {kind}",
        "  }",
        "]",
        "parameters {",
        f"  key: {_quoted(CONTRACT_PARAMETER)}",
        f"  value: {{ string_value: {_quoted(json.dumps(contract.to_dict(), sort_keys=True, ensure_ascii=False))} }}",
        "}",
    ]
    return "\n".join(lines) + "\n"


def write_model(repository: Path, name: str, platform: str, model_file: Path, contract: DeploymentContract,
                options: RepositoryOptions) -> Path:
    """REPO/NAME with its config, labels and version 1 holding `model_file` (copied). It is built
    beside its place and renamed into it, so a Triton watching the repository never sees half a
    model; an earlier model of that name is replaced whole."""
    folder = repository / name
    building = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=repository))
    try:
        target = building / "1" / ("model.onnx" if platform == "onnxruntime_onnx" else "model.plan")
        target.parent.mkdir(parents=True)
        shutil.copyfile(model_file, target)
        (building / LABELS_FILE).write_text("".join(f"{label}\n" for label in contract.classes), encoding="utf-8")
        (building / "config.pbtxt").write_text(model_config(contract, options, platform=platform, name=name),
                                               encoding="utf-8")
        old = None
        if folder.exists():
            old = folder.rename(repository / f".{name}.old.{os.getpid()}")
        building.rename(folder)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return folder


def write_repository(onnx_file: Path, contract: DeploymentContract, repository: Path,
                     options: RepositoryOptions = RepositoryOptions(), engine: Path | None = None) -> list[Path]:
    """The repository for an exported model, and NAME_trt for its TensorRT engine when there is
    one (without an engine, an earlier NAME_trt is removed: it would serve another model)."""
    repository.mkdir(parents=True, exist_ok=True)
    models = [(options.name, "onnxruntime_onnx", onnx_file)]
    tensorrt = f"{options.name}_trt"
    if engine is not None:
        if not engine.is_file():
            raise CocodiffError(f"{engine}: no such TensorRT engine")
        models.append((tensorrt, "tensorrt_plan", engine))
    written = [write_model(repository, name, platform, source, contract, options) for name, platform, source in models]
    if engine is None:
        shutil.rmtree(repository / tensorrt, ignore_errors=True)
    return written
