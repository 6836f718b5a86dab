"""The one interface every backend offers, and the checks they share.

A backend holds a model and its deployment contract. `predict(batch)` takes preprocessed input,
float32 (B, M, T, V, C) with M, V and C as the contract says and any T >= 1, and returns float32
logits (B, K) in the contract's class order. Preprocessing (`cocodiff.data.pipelines`) is not a
backend's business: the live recogniser and the HTTP server run it once, whatever the backend.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from cocodiff.contract import DeploymentContract
from cocodiff.errors import CocodiffError


class ModelInputError(CocodiffError):
    """A batch that does not fit the model: wrong shape, dtype, or non-finite values."""


class ModelRunError(CocodiffError):
    """The runtime failed to run the model (out of memory, a shape its engine was not built for,
    an output that does not fit the contract); one line, never a traceback."""


@runtime_checkable
class Backend(Protocol):
    contract: DeploymentContract
    name: str  # "pytorch", "onnxruntime" or "tensorrt"
    device: str  # where it runs, as the runtime reports it (for ONNX Runtime: the provider in use)

    def predict(self, batch: np.ndarray) -> np.ndarray: ...

    def describe(self) -> str: ...


def check_batch(batch: np.ndarray, contract: DeploymentContract) -> np.ndarray:
    """`batch` as a C-contiguous float32 (B, M, T, V, C) that fits `contract`, or ModelInputError."""
    if not isinstance(batch, np.ndarray):
        raise ModelInputError(f"model input must be a numpy array, got {type(batch).__name__}")
    if not (np.issubdtype(batch.dtype, np.floating) or np.issubdtype(batch.dtype, np.integer)):
        raise ModelInputError(f"model input must be numeric, got dtype {batch.dtype}")
    persons, _, joints, channels = contract.input_shape
    if batch.ndim != 5 or batch.shape[0] < 1 or batch.shape[2] < 1 or batch.shape[1:2] + batch.shape[3:] != (
            persons, joints, channels):
        raise ModelInputError(f"model input of shape {list(batch.shape)}; the model takes (B, {persons}, T, {joints}, "
                              f"{channels}) with B, T >= 1")
    batch = np.ascontiguousarray(batch, dtype=np.float32)
    if not np.isfinite(batch).all():
        raise ModelInputError("model input holds NaN or infinite values (preprocessing makes such joints absent)")
    return batch


def check_logits(logits: np.ndarray, batch: int, contract: DeploymentContract, runtime: str) -> np.ndarray:
    """`logits` as float32 (batch, K) with K the contract's classes, or ModelRunError."""
    logits = np.asarray(logits)
    if logits.shape != (batch, contract.num_classes):
        raise ModelRunError(f"{runtime} gave logits of shape {list(logits.shape)}, expected [{batch}, "
                            f"{contract.num_classes}] for the contract's {contract.num_classes} classes")
    return logits.astype(np.float32, copy=False)
