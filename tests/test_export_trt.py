"""TensorRT export: engine building and running against a fake `tensorrt`, the real no-TensorRT path.

TensorRT cannot be installed here (no GPU, no NVIDIA index), so the calls export.trt and
serve.backends.tensorrt_engine make are checked against a stand-in module that records them, for a 10.x and an
11.x version. The path a CPU machine really takes (ONNX file and polygraphy reference outputs,
then exit 2 with the commands for a GPU host) runs for real on a tiny checkpoint.

The CTR-GCN trace (torch.export, ~35 s here) is paid once: the no-TensorRT command line runs for
real in a subprocess (module fixture), and the fp16 command-line test reuses its traced float32
graph instead of tracing the same weights again; everything after the trace (float16 conversion,
verification against PyTorch, reference outputs, the engine build) still runs in that test.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import shutil
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from cocodiff.errors import CocodiffError

CLASSES = [f"class {i}" for i in range(12)]
WEIGHT = np.random.default_rng(0).standard_normal((3, 12)).astype(np.float32)


def toy_onnx(path: Path, half: bool = False) -> Path:
    """A tiny graph with the deployed interface: skeleton (B, 1, T, 25, 3) -> logits (B, 12)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    kind, dtype = (TensorProto.FLOAT16, np.float16) if half else (TensorProto.FLOAT, np.float32)
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["skeleton", "axes"], ["pooled"], keepdims=0),
         helper.make_node("MatMul", ["pooled", "weight"], ["logits"])], "toy",
        [helper.make_tensor_value_info("skeleton", kind, ["B", 1, "T", 25, 3])],
        [helper.make_tensor_value_info("logits", kind, ["B", 12])],
        [numpy_helper.from_array(WEIGHT.astype(dtype), "weight"),
         numpy_helper.from_array(np.array([1, 2, 3], np.int64), "axes")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.save(model, str(path))
    return path


# --- a stand-in for the tensorrt module --------------------------------------------------------------

class FakeTensorRT(types.ModuleType):
    """Records every builder/runtime call in `calls` as (name, args...)."""

    def __init__(self, version: str, *, gpu: bool = True, parse_errors: tuple[str, ...] = (),
                 build_fails: bool = False, io_dtype: str = "FLOAT"):
        super().__init__("tensorrt")
        self.__version__ = version
        self.calls: list[tuple] = []
        self.gpu, self.parse_errors, self.build_fails, self.io_dtype = gpu, parse_errors, build_fails, io_dtype
        flags = {"TF32": "TF32"} | ({"FP16": "FP16"} if version.startswith("10.") else {})
        self.BuilderFlag = types.SimpleNamespace(**flags)
        self.NetworkDefinitionCreationFlag = types.SimpleNamespace(STRONGLY_TYPED=1)
        self.MemoryPoolType = types.SimpleNamespace(WORKSPACE="WORKSPACE")
        self.TensorIOMode = types.SimpleNamespace(INPUT="INPUT", OUTPUT="OUTPUT")
        self.Logger = type("Logger", (), {"VERBOSE": "VERBOSE", "WARNING": "WARNING",
                                          "__init__": lambda logger, severity: None})

    def nptype(self, dtype: str):
        return {"FLOAT": np.float32, "HALF": np.float16}[dtype]

    def record(self, *call) -> None:
        self.calls.append(call)

    def named(self, name: str) -> list[tuple]:
        return [call for call in self.calls if call[0] == name]

    def Builder(self, logger):
        if not self.gpu:
            raise RuntimeError("[TRT] [E] CUDA initialization failure with error: 35\nmore detail")
        return FakeBuilder(self)

    def OnnxParser(self, network, logger):
        return FakeParser(self)

    def Runtime(self, logger):
        return types.SimpleNamespace(deserialize_cuda_engine=lambda data: FakeEngine(self, data))


class FakeBuilder:
    def __init__(self, trt: FakeTensorRT):
        self.trt = trt

    def create_network(self, flags):
        self.trt.record("create_network", flags)
        return object()

    def create_builder_config(self):
        return FakeConfig(self.trt)

    def create_optimization_profile(self):
        return types.SimpleNamespace(set_shape=lambda *args: self.trt.record("set_shape", *args))

    def build_serialized_network(self, network, config):
        self.trt.record("build")
        return None if self.trt.build_fails else b"ENGINE-BYTES"


class FakeConfig:
    def __init__(self, trt: FakeTensorRT):
        self.trt, self.cache = trt, None

    def __getattr__(self, name):  # set_flag, clear_flag, set_memory_pool_limit, add_optimization_profile
        return lambda *args: self.trt.record(name, *args)

    def create_timing_cache(self, data):
        self.trt.record("create_timing_cache", bytes(data))
        return types.SimpleNamespace(serialize=lambda: bytes(data) + b"+timings")

    def set_timing_cache(self, cache, ignore_mismatch):
        self.cache = cache
        return True

    def get_timing_cache(self):
        return self.cache


class FakeParser:
    def __init__(self, trt: FakeTensorRT):
        self.trt, self.num_errors = trt, len(trt.parse_errors)

    def parse_from_file(self, path):
        self.trt.record("parse_from_file", path)
        return not self.trt.parse_errors

    def get_error(self, index):
        return self.trt.parse_errors[index]


class FakeEngine:
    """skeleton -> logits = mean over (M, T, V) @ WEIGHT, reading and writing host memory by address."""

    num_io_tensors = 2

    def __init__(self, trt: FakeTensorRT, data: bytes):
        assert data == b"ENGINE-BYTES"
        self.trt = trt

    def get_tensor_name(self, index):
        return ["skeleton", "logits"][index]

    def get_tensor_mode(self, name):
        return "INPUT" if name == "skeleton" else "OUTPUT"

    def get_tensor_dtype(self, name):
        return self.trt.io_dtype

    def get_tensor_profile_shape(self, name, profile):
        return (1, 1, 16, 25, 3), (1, 1, 32, 25, 3), (2, 1, 64, 25, 3)

    def create_execution_context(self):
        return FakeContext(self.trt)


class FakeContext:
    def __init__(self, trt: FakeTensorRT):
        self.trt, self.shape, self.addresses = trt, None, {}

    def set_input_shape(self, name, shape):
        self.trt.record("set_input_shape", name, tuple(shape))
        self.shape = tuple(shape)
        return True

    def get_tensor_shape(self, name):
        return (self.shape[0], 12)

    def set_tensor_address(self, name, address):
        self.trt.record("set_tensor_address", name)
        self.addresses[name] = address

    def execute_async_v3(self, stream):
        self.trt.record("execute_async_v3", stream)
        dtype = self.trt.nptype(self.trt.io_dtype)
        x = _view(self.addresses["skeleton"], self.shape, dtype)
        _view(self.addresses["logits"], (self.shape[0], 12), dtype)[:] = _logits(x)
        return True


def _view(address: int, shape, dtype) -> np.ndarray:
    size = int(np.prod(shape)) * np.dtype(dtype).itemsize
    return np.frombuffer((ctypes.c_char * size).from_address(address), dtype=dtype).reshape(shape)


def _logits(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float32).mean(axis=(1, 2, 3)) @ WEIGHT


class HostBuffers:
    """Device buffers stood in by host numpy arrays (a fake engine reads them by address)."""

    def __init__(self):
        self.kept, self.synchronized = [], 0

    def upload(self, array, dtype):
        array = np.ascontiguousarray(array, dtype=dtype)
        self.kept.append(array)
        return array, array.ctypes.data

    def empty(self, shape, dtype):
        return self.upload(np.zeros(shape, dtype), dtype)

    def stream(self):
        return 1234

    def synchronize(self):
        self.synchronized += 1

    def download(self, buffer):
        return buffer.copy()


# --- building ---------------------------------------------------------------------------------------

@pytest.fixture
def fake(monkeypatch, tmp_path):
    """Install a fake tensorrt of the requested version; ONNX metadata is stubbed for the toy graph."""
    import export.trt

    written = []
    for name in ("atomic_write_bytes", "atomic_write_text"):
        real = getattr(export.trt, name)
        monkeypatch.setattr(export.trt, name,
                            lambda path, data, real=real: (written.append(Path(path)), real(path, data)))
    from export.metadata import ExportMetadata
    from tiny_runs import contract_for

    toy = ExportMetadata(contract_for(CLASSES), {"checkpoint_sha256": "abc", "min_frames": 1, "precision": "fp32"})
    monkeypatch.setattr(export.trt, "read_metadata", lambda path: toy)

    def install(version: str, **options) -> FakeTensorRT:
        trt = FakeTensorRT(version, **options)
        trt.written = written
        monkeypatch.setitem(sys.modules, "tensorrt", trt)
        return trt

    return install


def build(tmp_path: Path, *, half: bool = False, fp16: bool = False, cache: bool = True):
    from export.trt import build_engine

    onnx_path = toy_onnx(tmp_path / ("toy16.onnx" if half else "toy.onnx"), half=half)
    return build_engine(onnx_path, tmp_path / "toy.engine", min_shape=(1, 16), opt_shape=(1, 32),
                        max_shape=(2, 64), fp16=fp16, workspace_mib=512,
                        timing_cache=tmp_path / "timing.cache" if cache else None)


def test_tensorrt10_fp32_build_profile_cache_and_sidecar(fake, tmp_path):
    trt = fake("10.9.0")
    info = build(tmp_path)
    assert trt.named("create_network") == [("create_network", 0)]  # explicit batch is the default
    assert trt.named("set_shape") == [("set_shape", "skeleton", (1, 1, 16, 25, 3), (1, 1, 32, 25, 3),
                                       (2, 1, 64, 25, 3))]
    assert trt.named("set_memory_pool_limit") == [("set_memory_pool_limit", "WORKSPACE", 512 << 20)]
    assert trt.named("set_flag") == [] and trt.named("clear_flag") == [("clear_flag", "TF32")]
    assert trt.named("create_timing_cache") == [("create_timing_cache", b"")]
    assert (tmp_path / "timing.cache").read_bytes() == b"+timings"
    assert (tmp_path / "toy.engine").read_bytes() == b"ENGINE-BYTES"
    assert set(trt.written) == {tmp_path / "toy.engine", tmp_path / "toy.engine.json", tmp_path / "timing.cache"}
    sidecar = json.loads(info.sidecar.read_text())
    assert sidecar["profile"] == {"min": [1, 1, 16, 25, 3], "opt": [1, 1, 32, 25, 3], "max": [2, 1, 64, 25, 3]}
    assert (sidecar["precision"], sidecar["tensorrt_version"]) == ("fp32", "10.9.0")
    assert sidecar["contract"]["classes"] == CLASSES
    assert sidecar["onnx_sha256"] == hashlib.sha256((tmp_path / "toy.onnx").read_bytes()).hexdigest()
    assert sidecar["engine_sha256"] == hashlib.sha256(b"ENGINE-BYTES").hexdigest()
    assert sidecar["checkpoint_sha256"] == "abc" and sidecar["strongly_typed"] is False and sidecar["created"]


def test_tensorrt10_fp16_sets_the_builder_flag(fake, tmp_path):
    trt = fake("10.9.0")
    assert build(tmp_path, half=True, fp16=True).precision == "fp16"
    assert trt.named("set_flag") == [("set_flag", "FP16")] and trt.named("clear_flag") == []
    assert trt.named("create_network") == [("create_network", 0)]


def test_tensorrt11_half_onnx_is_strongly_typed_without_flags(fake, tmp_path):
    trt = fake("11.4.0")
    info = build(tmp_path, half=True, fp16=True)
    assert trt.named("create_network") == [("create_network", 1 << 1)]
    assert trt.named("set_flag") == [] and trt.named("clear_flag") == []
    sidecar = json.loads(info.sidecar.read_text())
    assert (sidecar["precision"], sidecar["input_dtype"], sidecar["strongly_typed"]) == ("fp16", "float16", True)


def test_tensorrt11_refuses_fp16_from_a_float32_onnx(fake, tmp_path):
    trt = fake("11.4.0")
    with pytest.raises(CocodiffError, match="half-precision ONNX.*--fp16"):
        build(tmp_path, fp16=True)
    assert trt.calls == [] and not (tmp_path / "toy.engine").exists()


def test_timing_cache_is_loaded_and_extended(fake, tmp_path):
    trt = fake("10.9.0")
    (tmp_path / "timing.cache").write_bytes(b"OLD")
    build(tmp_path)
    assert trt.named("create_timing_cache") == [("create_timing_cache", b"OLD")]
    assert (tmp_path / "timing.cache").read_bytes() == b"OLD+timings"


@pytest.mark.parametrize("options, message", [
    ({"gpu": False},
     r"^no CUDA GPU that TensorRT can use \(\[TRT\] \[E\] CUDA initialization failure with error: 35\)$"),
    ({"parse_errors": ("node 3: Einsum unsupported", "node 9: bad")},
     "could not parse .*: node 3: Einsum unsupported; node 9: bad$"),
    ({"build_fails": True}, "could not build an engine"),
])
def test_build_failures_are_one_line(fake, tmp_path, options, message):
    from export.trt import TensorRTUnavailable

    fake("10.9.0", **options)
    with pytest.raises(CocodiffError, match=message) as caught:
        build(tmp_path)
    assert isinstance(caught.value, TensorRTUnavailable) == ("gpu" in options)
    assert "\n" not in str(caught.value) and not (tmp_path / "toy.engine").exists()


def test_gpu_host_commands_for_half_precision(tmp_path):
    from export.reference import input_spec
    from export.trt import gpu_host_commands, profile_shapes, reference_shapes

    onnx_path = toy_onnx(tmp_path / "toy16.onnx", half=True)
    shapes = profile_shapes(input_spec(onnx_path), (1, 16), (1, 64), (16, 300))
    build, note, check_onnx, check_engine = gpu_host_commands(
        onnx_path, tmp_path / "toy16.engine", shapes, name="skeleton", precision="fp16", workspace_mib=2048,
        timing_cache=None)
    assert build.endswith("--maxShapes=skeleton:16x1x300x25x3 --memPoolSize=workspace:2048M --fp16")
    assert "TensorRT 11" in note and "--atol 0.02 --rtol 0.02" in check_onnx
    assert check_engine.startswith(f"polygraphy run {tmp_path / 'toy16.engine'} --model-type engine --trt")
    assert reference_shapes((1, 16), (1, 64), (16, 300)) == [(1, 16), (1, 64), (16, 16), (1, 300)]


def test_reference_with_a_real_clip_is_seeded_and_reloadable(tmp_path):
    from export.reference import load_reference, save_reference

    pytest.importorskip("polygraphy")
    onnx_path = toy_onnx(tmp_path / "toy.onnx")
    clip = np.ones((1, 20, 25, 3), np.float32)
    inputs, outputs = save_reference(onnx_path, shapes=[(2, 16)], seed=3, clips=[clip])
    feeds, results = load_reference(inputs, outputs)
    assert [feed["skeleton"].shape for feed in feeds] == [(2, 1, 16, 25, 3), (1, 1, 20, 25, 3)]
    [iterations] = list(results.values())
    for feed, iteration in zip(feeds, iterations):
        np.testing.assert_allclose(iteration["logits"], _logits(feed["skeleton"]), rtol=1e-5, atol=1e-6)
    first = inputs.read_bytes()
    save_reference(onnx_path, shapes=[(2, 16)], seed=3, clips=[clip])
    assert inputs.read_bytes() == first and sorted(p.name for p in tmp_path.iterdir()) == [
        "toy.onnx", "toy.ref_inputs.json", "toy.ref_outputs.json"]  # no temporary files left


def test_profile_must_be_ordered(tmp_path):
    from export.reference import input_spec
    from export.trt import check_profile, profile_shapes

    with pytest.raises(CocodiffError, match="frame count: need 1 <= min <= opt <= max, got 16, 8, 64"):
        check_profile((1, 16), (1, 8), (2, 64))
    spec = input_spec(toy_onnx(tmp_path / "toy.onnx"))
    with pytest.raises(CocodiffError, match="min frame count 2 is below the 4 frames this graph needs"):
        profile_shapes(spec, (1, 2), (1, 8), (2, 64), min_frames=4)


# --- running ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("version, io_dtype", [("10.9.0", "FLOAT"), ("11.4.0", "HALF")])
def test_runner_name_based_io(fake, tmp_path, version, io_dtype):
    from serve.backends.tensorrt_engine import TensorRTRunner

    trt = fake(version, io_dtype=io_dtype)
    build(tmp_path, half=io_dtype == "HALF", fp16=io_dtype == "HALF", cache=False)
    buffers = HostBuffers()
    runner = TensorRTRunner(tmp_path / "toy.engine", buffers=buffers)
    assert runner.classes == CLASSES and runner.outputs == ["logits"]
    x = np.random.default_rng(1).standard_normal((2, 1, 20, 25, 3)).astype(np.float32)
    trt.calls.clear()
    logits = runner(x)["logits"]
    assert logits.dtype == trt.nptype(io_dtype) and buffers.kept[0].dtype == trt.nptype(io_dtype)
    np.testing.assert_allclose(logits.astype(np.float32), _logits(x), atol=1e-2 if io_dtype == "HALF" else 1e-6)
    assert trt.calls == [("set_input_shape", "skeleton", (2, 1, 20, 25, 3)), ("set_tensor_address", "skeleton"),
                         ("set_tensor_address", "logits"), ("execute_async_v3", 1234)]
    assert buffers.synchronized == 1
    profile = r"outside the engine's profile \[1, 1, 16, 25, 3\] \.\. \[2, 1, 64, 25, 3\]"
    with pytest.raises(CocodiffError, match=profile):
        runner(np.zeros((3, 1, 20, 25, 3), np.float32))


def test_runner_without_sidecar_uses_the_engine_profile(fake, tmp_path):
    from serve.backends.tensorrt_engine import TensorRTRunner

    fake("10.9.0")
    (tmp_path / "bare.engine").write_bytes(b"ENGINE-BYTES")
    runner = TensorRTRunner(tmp_path / "bare.engine", buffers=HostBuffers())
    assert runner.classes == [] and runner.max_shape == (2, 1, 64, 25, 3)
    with pytest.raises(CocodiffError, match="outside"):
        runner(np.zeros((1, 1, 8, 25, 3), np.float32))


def test_the_tensorrt_backend_takes_its_contract_from_the_sidecar(fake, tmp_path):
    """serve's TensorRT backend over the runner: the contract the build copied from the ONNX file's
    metadata, and the backend interface (checked batch in, float32 logits out)."""
    from serve.backends import ModelInputError
    from serve.backends.tensorrt_engine import TensorRTBackend
    from tiny_runs import contract_for

    trt = fake("10.9.0")
    build(tmp_path, cache=False)
    backend = TensorRTBackend(tmp_path / "toy.engine", buffers=HostBuffers())
    assert backend.contract == contract_for(CLASSES) and backend.name == "tensorrt"
    x = np.random.default_rng(2).standard_normal((2, 1, 20, 25, 3)).astype(np.float32)
    np.testing.assert_allclose(backend.predict(x), _logits(x), atol=1e-6)
    with pytest.raises(ModelInputError, match="NaN"):
        backend.predict(np.full((1, 1, 20, 25, 3), np.nan, np.float32))
    five = np.random.default_rng(3).standard_normal((5, 1, 20, 25, 3)).astype(np.float32)
    trt.calls.clear()
    np.testing.assert_allclose(backend.predict(five), _logits(five), atol=1e-6)  # the profile takes B <= 2
    assert [call[2][0] for call in trt.named("set_input_shape")] == [2, 2, 1]
    (tmp_path / "bare.engine").write_bytes(b"ENGINE-BYTES")
    with pytest.raises(CocodiffError, match="bare.engine.json: missing, or holds no deployment contract"):
        TensorRTBackend(tmp_path / "bare.engine", buffers=HostBuffers())
    (tmp_path / "old.engine").write_bytes(b"ENGINE-BYTES")
    (tmp_path / "old.engine.json").write_text('{"format": "cocodiff-tensorrt-engine/1"}')
    with pytest.raises(CocodiffError, match="engine sidecar of format 'cocodiff-tensorrt-engine/1'"):
        TensorRTBackend(tmp_path / "old.engine", buffers=HostBuffers())


# --- the real path on this machine: no TensorRT ---------------------------------------------------

@pytest.fixture(scope="module")
def no_tensorrt_run(tmp_path_factory):
    """`python -m export.trt CKPT` on a tiny checkpoint with `import tensorrt` failing."""
    from tiny_runs import untrained_checkpoint

    pytest.importorskip("polygraphy")
    folder = tmp_path_factory.mktemp("trt")
    checkpoint = untrained_checkpoint(folder / "tiny.pt")
    command = [sys.executable, "-c", "import sys; sys.modules['tensorrt'] = None; from cocodiff.cli import run_cli; "
               "from export.trt import main; sys.exit(run_cli(main))",
               str(checkpoint), "--out", str(folder / "tiny.engine"), "--min", "1,16", "--opt", "2,32", "--max", "4,64"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600,
                            cwd=Path(__file__).resolve().parents[1], env=_env())
    return folder, result


@pytest.mark.slow
def test_cli_fp16_with_tensorrt11_builds_from_the_half_onnx(no_tensorrt_run, monkeypatch, tmp_path, capsys):
    """The whole command against a fake TensorRT 11: half ONNX, strongly typed, engine + sidecar.
    The trace is the fixture's (same checkpoint, same weights); the rest of the export is real."""
    import onnx
    import torch

    from cocodiff.cli import run_cli
    from cocodiff.data.embedded import CLASSES as EMBEDDED
    from export.graph import Exported
    from export.metadata import read_metadata
    from export.trt import main
    from tiny_runs import untrained_checkpoint

    pytest.importorskip("polygraphy")
    torch.set_num_threads(1)
    traced = no_tensorrt_run[0] / "tiny.onnx"  # float32, exported from untrained_checkpoint(seed=0)
    assert traced.is_file(), no_tensorrt_run[1].stderr
    min_frames = int(read_metadata(traced).provenance["min_frames"])
    monkeypatch.setattr("export.exporter.export_graph",
                        lambda *args: Exported(onnx.load(str(traced)), "dynamo", min_frames))
    trt = FakeTensorRT("11.4.0")
    # Not through sys.modules here: torch's exporter looks for a `tensorrt` module too, and a fake
    # one makes the dynamo export fail.
    monkeypatch.setattr("export.trt.load_tensorrt", lambda: trt)
    checkpoint = untrained_checkpoint(tmp_path / "tiny.pt")  # the same weights: verification compares with them
    code = run_cli(main, [str(checkpoint), "--fp16", "--out", str(tmp_path / "tiny16.engine"), "--max", "2,64",
                          "--timing-cache", str(tmp_path / "cache.bin")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert trt.named("create_network") == [("create_network", 1 << 1)] and trt.named("set_flag") == []
    assert trt.named("set_shape")[0][2:] == ((1, 1, 16, 25, 3), (1, 1, 64, 25, 3), (2, 1, 64, 25, 3))
    sidecar = json.loads((tmp_path / "tiny16.engine.json").read_text())
    assert sidecar["contract"]["classes"] == list(EMBEDDED) and sidecar["precision"] == "fp16"
    assert sidecar["onnx"] == "tiny16.onnx" and (tmp_path / "cache.bin").read_bytes() == b"+timings"
    assert (tmp_path / "tiny16.ref_outputs.json").is_file() and "--model-type engine" in out
    assert read_metadata(tmp_path / "tiny16.onnx").provenance["precision"] == "fp16"


def _env() -> dict[str, str]:
    import os

    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}


def test_without_tensorrt_exits_2_after_writing_onnx_and_references(no_tensorrt_run):
    folder, result = no_tensorrt_run
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == ["error: TensorRT is not installed (pip install tensorrt on a CUDA host)"]
    assert result.stderr.rstrip().endswith(errors[0])
    for name in ("tiny.onnx", "tiny.ref_inputs.json", "tiny.ref_outputs.json"):
        assert (folder / name).is_file(), name
    assert not (folder / "tiny.engine").exists()
    assert (f"trtexec --onnx={folder / 'tiny.onnx'} --saveEngine={folder / 'tiny.engine'} "
            f"--minShapes=skeleton:1x1x16x25x3 --optShapes=skeleton:2x1x32x25x3 --maxShapes=skeleton:4x1x64x25x3 "
            f"--memPoolSize=workspace:1024M --timingCacheFile={folder / 'timing.cache'} --noTF32") in result.stdout
    assert "--trt-max-shapes 'skeleton:[4,1,64,25,3]' --load-inputs" in result.stdout


def test_reference_files_load_and_match_onnxruntime(no_tensorrt_run):
    from export.reference import load_reference

    folder, _ = no_tensorrt_run
    inputs, outputs = folder / "tiny.ref_inputs.json", folder / "tiny.ref_outputs.json"
    feeds, results = load_reference(inputs, outputs)
    assert [feed["skeleton"].shape for feed in feeds] == [(1, 1, 16, 25, 3), (2, 1, 32, 25, 3), (4, 1, 16, 25, 3),
                                                          (1, 1, 64, 25, 3)]
    [(runner, iterations)] = list(results.items())
    from cocodiff.data.embedded import CLASSES as EMBEDDED_CLASSES

    k = len(EMBEDDED_CLASSES)
    assert [it["logits"].shape for it in iterations] == [(1, k), (2, k), (4, k), (1, k)]
    polygraphy = shutil.which("polygraphy") or str(Path(sys.executable).parent / "polygraphy")
    check = subprocess.run([polygraphy, "run", str(folder / "tiny.onnx"), "--onnxrt", "--load-inputs", str(inputs),
                            "--load-outputs", str(outputs), "--atol", "1e-3", "--rtol", "1e-3"],
                           capture_output=True, text=True, timeout=300, env=_env())
    assert check.returncode == 0 and "PASSED" in check.stdout, check.stdout + check.stderr
