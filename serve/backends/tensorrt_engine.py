"""Run a serialized TensorRT engine made by `export.trt`: name-based tensors, `execute_async_v3`.

Written against TensorRT's documented Python API and tested against a stand-in module that
records the calls (tests/test_export_trt.py): no GPU or TensorRT was available to this project,
so it has not run on a real engine.

TensorRT 10 removed bindings: every input and output is addressed by its name, the input shape is
set per call (`set_input_shape`), and each tensor's device address is handed over with
`set_tensor_address` before `execute_async_v3(stream)`. Device memory and the stream come from a
`DeviceBuffers` object; the default one uses torch CUDA tensors, which is the simplest device
allocator to hand and lets serve/ pass tensors that are already on the GPU without a copy.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Protocol, Sequence

import numpy as np

from cocodiff.contract import DeploymentContract
from cocodiff.engine_file import load_tensorrt, read_sidecar, sidecar_path
from cocodiff.errors import CocodiffError
from serve.backends.base import check_batch, check_logits


class DeviceBuffers(Protocol):
    """Where tensors live while the engine runs: (buffer, device address) pairs and a stream."""

    def upload(self, array: Any, dtype: np.dtype) -> tuple[Any, int]: ...

    def empty(self, shape: tuple[int, ...], dtype: np.dtype) -> tuple[Any, int]: ...

    def stream(self) -> int: ...

    def synchronize(self) -> None: ...

    def download(self, buffer: Any) -> np.ndarray: ...


class TorchCudaBuffers:
    """Device buffers as torch CUDA tensors, run on torch's current stream."""

    def __init__(self, device: int | str = 0):
        import torch

        if not torch.cuda.is_available():
            raise CocodiffError("no CUDA GPU: a TensorRT engine runs only on the GPU it was built for")
        self.torch = torch
        self.device = torch.device("cuda", device) if isinstance(device, int) else torch.device(device)

    def _dtype(self, dtype: np.dtype):
        return self.torch.from_numpy(np.empty(0, dtype=dtype)).dtype

    def upload(self, array: Any, dtype: np.dtype) -> tuple[Any, int]:
        tensor = array if isinstance(array, self.torch.Tensor) else self.torch.from_numpy(np.asarray(array))
        tensor = tensor.to(self.device, self._dtype(dtype), non_blocking=True).contiguous()
        return tensor, tensor.data_ptr()

    def empty(self, shape: tuple[int, ...], dtype: np.dtype) -> tuple[Any, int]:
        tensor = self.torch.empty(shape, dtype=self._dtype(dtype), device=self.device)
        return tensor, tensor.data_ptr()

    def stream(self) -> int:
        return self.torch.cuda.current_stream(self.device).cuda_stream

    def synchronize(self) -> None:
        self.torch.cuda.current_stream(self.device).synchronize()

    def download(self, buffer: Any) -> np.ndarray:
        return buffer.detach().cpu().numpy()


class TensorRTRunner:
    """One engine, one execution context; `runner(skeleton)` -> {output name: array}.

    The allowed (B, M, T, V, C) range comes from the sidecar `<engine>.json` that `export.trt`
    writes (or from the engine's own profile without one); a shape outside it is refused in one
    line before TensorRT sees it. Calls are serialised: one context runs one inference at a time.
    """

    def __init__(self, engine_path: str | os.PathLike, *, buffers: DeviceBuffers | None = None,
                 verbose: bool = False):
        self.path = Path(engine_path)
        if not self.path.is_file():
            raise CocodiffError(f"{self.path}: no such engine file")
        trt = load_tensorrt()
        self._trt = trt
        self.sidecar: dict[str, Any] = read_sidecar(sidecar_path(self.path)) or {}
        self._buffers = buffers if buffers is not None else TorchCudaBuffers()
        logger = trt.Logger(trt.Logger.VERBOSE if verbose else trt.Logger.WARNING)
        self._runtime = trt.Runtime(logger)
        self.engine = self._runtime.deserialize_cuda_engine(self.path.read_bytes())
        if self.engine is None:
            raise CocodiffError(f"{self.path}: TensorRT could not load this engine "
                                f"(engines are tied to the GPU and TensorRT version that built them)")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.outputs = [n for n in names if n not in self.inputs]
        if len(self.inputs) != 1:
            raise CocodiffError(f"{self.path}: expected one input tensor, found {self.inputs}")
        self.input_name = self.inputs[0]
        self.dtypes = {n: np.dtype(trt.nptype(self.engine.get_tensor_dtype(n))) for n in names}
        self.min_shape, self.max_shape = self._profile_range()
        self._lock = threading.Lock()

    @property
    def classes(self) -> list[str]:
        contract = self.contract
        return [] if contract is None else list(contract.classes)

    @property
    def contract(self) -> DeploymentContract | None:
        """The deployment contract from the sidecar; None for an engine without one."""
        if "contract" not in self.sidecar:
            return None
        return DeploymentContract.from_dict(self.sidecar["contract"], str(sidecar_path(self.path)))

    def _profile_range(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        profile = self.sidecar.get("profile")
        if profile:
            return tuple(profile["min"]), tuple(profile["max"])
        low, _, high = self.engine.get_tensor_profile_shape(self.input_name, 0)
        return tuple(low), tuple(high)

    def check_shape(self, shape: Sequence[int]) -> None:
        """Refuse, in one line, a shape the engine's optimisation profile does not cover."""
        shape = tuple(int(d) for d in shape)
        inside = len(shape) == len(self.min_shape) and all(
            low <= d <= high for d, low, high in zip(shape, self.min_shape, self.max_shape))
        if not inside:
            raise CocodiffError(f"input shape {list(shape)} is outside the engine's profile "
                                f"{list(self.min_shape)} .. {list(self.max_shape)} (B, M, T, V, C)")

    def __call__(self, skeleton: Any) -> dict[str, np.ndarray]:
        shape = tuple(skeleton.shape)
        self.check_shape(shape)
        with self._lock:
            source, address = self._buffers.upload(skeleton, self.dtypes[self.input_name])
            if not self.context.set_input_shape(self.input_name, shape):
                raise CocodiffError(f"TensorRT refused input shape {list(shape)}")
            self.context.set_tensor_address(self.input_name, address)
            results = {}
            for name in self.outputs:
                out_shape = tuple(self.context.get_tensor_shape(name))
                if any(d < 0 for d in out_shape):
                    raise CocodiffError(f"TensorRT left output {name!r} without a shape: {list(out_shape)}")
                results[name], out_address = self._buffers.empty(out_shape, self.dtypes[name])
                self.context.set_tensor_address(name, out_address)
            if not self.context.execute_async_v3(self._buffers.stream()):
                raise CocodiffError("TensorRT failed to run the engine (its log says why)")
            self._buffers.synchronize()
            del source  # the input had to stay alive until the stream finished with it
            return {name: self._buffers.download(buffer) for name, buffer in results.items()}


class TensorRTBackend:
    """The backend interface over a `TensorRTRunner`; the engine's sidecar must hold its contract.
    A batch larger than the engine's profile allows runs in pieces of the largest it takes."""

    name = "tensorrt"

    def __init__(self, path: str | os.PathLike, device: str = "cuda", buffers: DeviceBuffers | None = None):
        self.runner = TensorRTRunner(path, buffers=buffers if buffers is not None else TorchCudaBuffers(
            _cuda_index(device)))
        contract = self.runner.contract
        if contract is None:
            raise CocodiffError(f"{sidecar_path(path)}: missing, or holds no deployment contract; rebuild the engine "
                                "with python -m export.trt")
        if "logits" not in self.runner.outputs:
            raise CocodiffError(f"{path}: the engine has outputs {self.runner.outputs}, not 'logits'")
        self.contract = contract
        self.device = str(self.runner.sidecar.get("gpu") or device)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        x = check_batch(batch, self.contract)
        step = self.runner.max_shape[0]
        pieces = [self.runner(x[start:start + step])["logits"] for start in range(0, len(x), step)]
        return check_logits(np.concatenate(pieces).astype(np.float32), len(x), self.contract, "TensorRT")

    def describe(self) -> str:
        return f"{self.runner.path} in TensorRT {self.runner.sidecar.get('tensorrt_version', '?')} on {self.device}"


def _cuda_index(device: str) -> int:
    kind, _, index = device.partition(":")
    if kind not in ("auto", "cuda") or (index and not index.isdigit()):
        raise CocodiffError(f"TensorRT device {device!r}: an engine runs on a CUDA GPU (cuda or cuda:N)")
    return int(index or 0)
