"""An exported ONNX file run by ONNX Runtime, on the CPU or, where `onnxruntime-gpu` and a GPU
are present, on CUDA.

ONNX Runtime falls back to the CPU without a word when the CUDA provider cannot start (no GPU,
no matching CUDA libraries). So the backend reports the provider the session really uses
(`session.get_providers()`), and `notes` says so whenever it differs from the one asked for.
The deployment contract comes from the file's own metadata, read through onnxruntime alone.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from cocodiff.contract import DeploymentContract
from cocodiff.errors import CocodiffError, first_line
from serve.backends.base import ModelRunError, check_batch, check_logits

CUDA, CPU = "CUDAExecutionProvider", "CPUExecutionProvider"
INPUT, OUTPUT = "skeleton", "logits"  # the names export.graph gives the graph's ends


class OnnxBackend:
    """`device`: "auto" (CUDA where ONNX Runtime offers it, else CPU), "cpu", "cuda" or "cuda:N"."""

    name = "onnxruntime"

    def __init__(self, path: str | os.PathLike, device: str = "auto", threads: int = 0):
        try:
            import onnxruntime as ort
        except ImportError:
            raise CocodiffError("running an ONNX model needs onnxruntime: pip install onnxruntime "
                                "(or onnxruntime-gpu, never both)") from None
        self.path = Path(path)
        kind, _, index = device.partition(":")
        if kind not in ("auto", "cpu", "cuda") or (index and (kind != "cuda" or not index.isdigit())):
            raise CocodiffError(f"ONNX Runtime device {device!r}: use auto, cpu, cuda or cuda:N")
        available = ort.get_available_providers()
        wanted = [CUDA, CPU] if kind == "cuda" or (kind == "auto" and CUDA in available) else [CPU]
        cuda_options = {"device_id": int(index or 0)}
        options = ort.SessionOptions()
        options.log_severity_level = 3  # its warnings about graph folding are noise here
        if threads > 0:
            options.intra_op_num_threads = threads
        try:
            providers = [(p, cuda_options) if p == CUDA else p for p in wanted if p in available] or [CPU]
            self.session = ort.InferenceSession(str(self.path), options, providers=providers)
        except Exception as error:  # noqa: BLE001 - onnxruntime raises its own types for a bad file
            raise CocodiffError(f"{self.path}: not an ONNX model ONNX Runtime can load ({first_line(error)[:160]})") \
                from None
        props = self.session.get_modelmeta().custom_metadata_map
        self.contract = DeploymentContract.from_metadata(props, str(self.path))
        names = {value.name for value in self.session.get_inputs()}, {v.name for v in self.session.get_outputs()}
        if INPUT not in names[0] or OUTPUT not in names[1]:
            raise CocodiffError(f"{self.path}: expected input {INPUT!r} and output {OUTPUT!r}, the graph has "
                                f"inputs {sorted(names[0])} and outputs {sorted(names[1])}")
        self.providers = self.session.get_providers()
        self.device = self.providers[0]
        self.notes: list[str] = []
        if wanted[0] == CUDA and self.device != CUDA:
            self.notes.append(f"ONNX Runtime could not use {CUDA} (available: {', '.join(available)}); running on "
                              f"{self.device}")

    def predict(self, batch: np.ndarray) -> np.ndarray:
        x = check_batch(batch, self.contract)
        try:
            logits = self.session.run([OUTPUT], {INPUT: x})[0]
        except Exception as error:  # noqa: BLE001 - onnxruntime raises its own exception types
            raise ModelRunError(f"ONNX Runtime failed to run {self.path.name}: {first_line(error)[:200]}") from None
        return check_logits(logits, len(x), self.contract, "ONNX Runtime")

    def describe(self) -> str:
        import onnxruntime as ort

        return f"{self.path} in ONNX Runtime {ort.__version__} with {self.device}"
